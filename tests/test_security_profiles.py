"""The security criterion on the embedded stack: it passes when healthy and catches each insecure profile.

Every finding class that can fail the criterion on this stack has a deliberately vulnerable
profile (fixtures/stacks/base.py FAULTS) that must be caught as a demonstrated, failing finding
of that class (summary.json ``findings``). Each run is ``pytest -m local --stack processes
--fault NAME acceptance/test_security.py`` with one stack of its own, three at a time (two
cores): about five minutes for the file.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from fixtures.security_findings import CLASSES

from .runner import SuiteRun, run_suite

pytestmark = pytest.mark.slow

# Insecure profile -> the class it must be caught as (demonstrated, failing at the default --fail-on).
CAUGHT = {
    "open-artifacts": "auth-gap",
    "normalising-proxy": "path-normalisation",
    "trusts-identity-headers": "identity-header",
    "query-token": "weak-credential",
    "echoes-credentials": "credential-leak",
    "cors-any-origin": "cross-origin",
    "resolves-artifact-paths": "artifact-traversal",
}
# Low severity: a warning by default, failing with --fail-on low.
WARNED = {"leaks-server-paths": "path-disclosure"}
# Classes no proxy fault can make fail on this stack, and why.
NOT_BY_A_PROXY_FAULT = {
    "source-traversal": "demonstrated only when MLflow itself serves a local file through a source (older servers)",
    "artifact-location": "an accepted artifact_location is only ever indicated",
    "dns-rebinding": "demonstrated only on a registry without credentials; this stack has an API key",
}
# Run name -> fault profile and extra options.
RUNS = {"healthy": ("healthy",), **{profile: (profile,) for profile in (*CAUGHT, *WARNED)},
        "leaks-server-paths --fail-on low": ("leaks-server-paths", "--fail-on", "low")}
PARALLEL = 3  # stacks at once on two cores


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, SuiteRun]:
    def run(name: str) -> SuiteRun:
        fault, *options = RUNS[name]
        return run_suite(tmp_path_factory.mktemp(fault), "-p", "no:randomly", "-m", "local", "--stack", "processes",
                         "--fault", fault, *options, "acceptance/test_security.py", timeout=400)

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(RUNS, pool.map(run, RUNS), strict=True))


def security(run: SuiteRun) -> dict:
    return run.summary["criteria"]["security"]


def failed_tests(run: SuiteRun) -> list[str]:
    return [t["id"] for t in security(run)["tests"] if t["outcome"] in ("failed", "error")]


def findings(run: SuiteRun, status: str | None = None) -> list[dict]:
    return [f for f in run.summary["findings"] if status is None or f["status"] == status]


def demonstrated(run: SuiteRun, cls: str, status: str) -> list[dict]:
    return [f for f in findings(run, status) if f["class"] == cls and f["proof"] == "demonstrated"]


def test_every_class_that_can_fail_has_a_profile():
    covered = set(CAUGHT.values()) | set(WARNED.values())
    assert covered | set(NOT_BY_A_PROXY_FAULT) == set(CLASSES) and not covered & set(NOT_BY_A_PROXY_FAULT)


@pytest.mark.parametrize("name", RUNS)
def test_findings_follow_the_contract(runs, name):
    run = runs[name]
    for f in findings(run):
        assert f["class"] in CLASSES and f["id"].startswith(f["class"] + "/") and f["evidence"], f
        assert f["severity"] in ("critical", "high", "medium", "low", "info"), f
        assert f["proof"] in ("demonstrated", "indicated") and f["status"] in ("failing", "warning", "accepted"), f
    assert len({f["id"] for f in findings(run)}) == len(findings(run)), "finding ids must be unique"
    assert (security(run)["verdict"] == "failed") == bool(findings(run, "failing")), run.output[-3000:]


def test_healthy_stack_passes_with_no_failing_finding(runs):
    run = runs["healthy"]
    assert security(run)["verdict"] == "passed", run.output[-3000:]
    assert findings(run, "failing") == []
    assert failed_tests(run) == [] and len(security(run)["tests"]) >= 100


@pytest.mark.parametrize("profile", CAUGHT)
def test_insecure_profile_is_caught_as_its_class(runs, profile):
    run, cls = runs[profile], CAUGHT[profile]
    assert security(run)["verdict"] == "failed", run.output[-3000:]
    assert demonstrated(run, cls, "failing"), findings(run)
    # The profile's hole and nothing else: the suite names the class, not collateral noise.
    assert {f["class"] for f in findings(run, "failing")} == {cls}, findings(run, "failing")


def test_open_artifacts_is_found_as_an_authentication_gap_on_artifact_routes(runs):
    run = runs["open-artifacts"]
    failed = failed_tests(run)
    assert failed and all("artifact" in name for name in failed), failed
    assert "test_anonymous_artifact_write_is_refused" in failed
    assert all("/mlflow-artifacts/" in f["evidence"] for f in findings(run, "failing")), findings(run, "failing")
    diagnosis = run.diagnosis("security")
    assert "missing authentication" in diagnosis and "/mlflow-artifacts/" in diagnosis, diagnosis
    assert "server reports MLflow" in diagnosis


def test_normalising_proxy_is_found_as_a_path_normalisation_bypass(runs):
    run = runs["normalising-proxy"]
    failed = failed_tests(run)
    assert all(name.startswith("test_path_spelling_does_not_bypass_authentication[") for name in failed), failed
    assert any("dot-dot-in-query" in name for name in failed)
    diagnosis = run.diagnosis("security")
    assert "path-normalisation bypass" in diagnosis and "RESOURCE_DOES_NOT_EXIST" in diagnosis, diagnosis


def test_server_paths_in_errors_warn_by_default_and_fail_with_fail_on_low(runs):
    default, strict = runs["leaks-server-paths"], runs["leaks-server-paths --fail-on low"]
    assert security(default)["verdict"] == "passed", default.output[-3000:]
    assert demonstrated(default, "path-disclosure", "warning"), findings(default)
    assert security(strict)["verdict"] == "failed", strict.output[-3000:]
    assert demonstrated(strict, "path-disclosure", "failing"), findings(strict)


@pytest.mark.parametrize("name", RUNS)
def test_probes_leave_nothing_behind(runs, name):
    run = runs[name]
    assert "cleanup:" not in run.output and "cleanup problem" not in run.output, run.output[-3000:]
    assert not [p for p in (run.reports / "ledger").glob("*.jsonl") if p.read_text().strip()]
    assert run.leftovers() == []
