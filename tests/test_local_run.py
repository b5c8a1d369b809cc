"""The suite end to end on the embedded stack, as a user runs it: pytest -m local."""

from __future__ import annotations

import pytest

from .runner import run_suite, validate_summary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    # A generous budget exercises the budget path without making the run depend on machine speed.
    return run_suite(tmp_path_factory.mktemp("reports"), "-m", "local", "--stack", "processes",
                     "--budget", "api_latency_ms_p50=100000")


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
    assert "downloads presigned URLs straight from S3" in target["artifact_transfer"], target


def test_no_stack_process_outlives_the_run(local_run):
    assert local_run.leftovers() == []


def test_figures_and_charts_are_recorded(local_run):
    metrics = local_run.summary["metrics"]
    for name in ("stack_start_s", "upload_mb_s", "download_mb_s", "s3_upload_mb_s", "s3_download_mb_s",
                 "proxy_upload_efficiency", "proxy_download_efficiency", "registration_s", "model_load_s",
                 "api_latency_ms_p50", "api_latency_ms_p95", "api_latency_ms_p99"):
        assert isinstance(metrics.get(name), (int, float)), f"{name} missing: {metrics}"
    html = (local_run.reports / "acceptance.html").read_text()
    assert "Performance figures" in html and html.count("<svg") >= 2 and "within budget" in html
    assert "figures: upload/download" in local_run.output
