"""The security criterion on the embedded stack: it passes when healthy and names the hole of each insecure profile.

Three runs of ``pytest -m local --stack processes --fault NAME acceptance/test_security.py``
start at once (one stack each) to keep this file near two minutes on two cores.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .runner import SuiteRun, run_suite

pytestmark = pytest.mark.slow

PROFILES = ("healthy", "open-artifacts", "normalising-proxy")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, SuiteRun]:
    def run(fault: str) -> SuiteRun:
        return run_suite(tmp_path_factory.mktemp(fault), "-p", "no:randomly", "-m", "local", "--stack", "processes",
                         "--fault", fault, "acceptance/test_security.py", timeout=400)

    with ThreadPoolExecutor(len(PROFILES)) as pool:
        return dict(zip(PROFILES, pool.map(run, PROFILES), strict=True))


def security(run: SuiteRun) -> dict:
    return run.summary["criteria"]["security"]


def failed_tests(run: SuiteRun) -> list[str]:
    return [t["id"] for t in security(run)["tests"] if t["outcome"] in ("failed", "error")]


def test_healthy_stack_passes_every_probe(runs):
    run = runs["healthy"]
    assert security(run)["verdict"] == "passed", run.output[-3000:]
    outcomes = {t["outcome"] for t in security(run)["tests"]}
    assert outcomes == {"passed"}, [t for t in security(run)["tests"] if t["outcome"] != "passed"]
    assert len(security(run)["tests"]) >= 100


def test_open_artifacts_is_found_as_an_authentication_gap_on_artifact_routes(runs):
    run = runs["open-artifacts"]
    assert security(run)["verdict"] == "failed", run.output[-3000:]
    failed = failed_tests(run)
    assert failed and all("artifact" in name for name in failed), failed
    assert "test_anonymous_artifact_write_is_refused" in failed
    diagnosis = run.diagnosis("security")
    assert "missing authentication" in diagnosis and "/mlflow-artifacts/" in diagnosis, diagnosis
    assert "server reports MLflow" in diagnosis


def test_normalising_proxy_is_found_as_a_path_normalisation_bypass(runs):
    run = runs["normalising-proxy"]
    assert security(run)["verdict"] == "failed", run.output[-3000:]
    failed = failed_tests(run)
    assert failed, run.output[-3000:]
    assert all(name.startswith("test_path_spelling_does_not_bypass_authentication[") for name in failed), failed
    assert any("dot-dot-in-query" in name for name in failed)
    diagnosis = run.diagnosis("security")
    assert "path-normalisation bypass" in diagnosis and "RESOURCE_DOES_NOT_EXIST" in diagnosis, diagnosis


@pytest.mark.parametrize("profile", PROFILES)
def test_probes_leave_nothing_behind(runs, profile):
    run = runs[profile]
    assert "cleanup:" not in run.output and "cleanup problem" not in run.output, run.output[-3000:]
    assert not [p for p in (run.reports / "ledger").glob("*.jsonl") if p.read_text().strip()]
    assert run.leftovers() == []
