"""The suite end to end on the embedded stack, as a user runs it: pytest -m local."""

from __future__ import annotations

import pytest

from .runner import run_suite, validate_summary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return run_suite(tmp_path_factory.mktemp("reports"), "-m", "local", "--stack", "processes")


def test_all_five_criteria_pass(local_run):
    assert local_run.returncode == 0, local_run.output[-3000:]
    criteria = ("endpoints", "auth", "artifacts", "registration", "retrieval", "security")
    assert {name: local_run.verdicts().get(name) for name in criteria} == {name: "passed" for name in criteria}


def test_results_document_is_written(local_run):
    validate_summary(local_run.summary)
    html = (local_run.reports / "acceptance.html").read_text()
    assert "Verdict:" in html and "MUST" in html, "the HTML report lacks the verdict block or requirements"
    assert (local_run.reports / "junit.xml").exists()


def test_summary_records_target_and_versions(local_run):
    target = local_run.summary["target"]
    assert target["kind"] == "local" and target["auth"] == "bearer" and target["stack"] == "processes"
    assert target["server_version"] and target["client_version"]


def test_no_stack_process_outlives_the_run(local_run):
    assert local_run.leftovers() == []
