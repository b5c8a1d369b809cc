"""Self-tests on broken stacks: the suite must catch every deliberate fault, say why, and do it fast.

For each fault profile (fixtures/stacks/base.py FAULTS) the acceptance suite runs as a user
runs it (``pytest -m local --stack processes --fault NAME``, a subprocess); the test asserts
the verdict of each of the five criteria and that the diagnosis names the cause, in
summary.json, in the terminal summary and at the top of the HTML report. The healthy
profile must pass all five. A change that stops the suite catching a fault turns this red.

The profile runs are started together, ``ACC_SELFTEST_JOBS`` at a time (default 2), when
the first profile test needs one; each test then waits for its own run.
"""

from __future__ import annotations

import html
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fixtures.stacks.base import FAULTS

from .runner import MARK_VAR, SuiteRun, clean_env, processes_marked, run_suite, validate_summary
from .stack_by_hand import stack_by_hand

FIVE = ("endpoints", "auth", "artifacts", "registration", "retrieval")
LIVE_BUDGET_S = 60
JOBS = max(1, int(os.environ.get("ACC_SELFTEST_JOBS", "2")))

ROUTE_404 = "does not route /api/2.0/mlflow-artifacts/*"
NOT_SERVED = "runs without artifact serving"


@dataclass
class Expected:
    verdicts: dict[str, str]
    diagnosis: dict[str, str] = field(default_factory=dict)  # criterion -> words its diagnosis must contain
    html_evidence: str | None = None  # words the HTML report must show (e.g. from the stack's server log)


def verdicts(endpoints="passed", auth="passed", artifacts="passed", registration="passed", retrieval="passed"):
    return {"endpoints": endpoints, "auth": auth, "artifacts": artifacts, "registration": registration,
            "retrieval": retrieval}


PROFILES: dict[str, Expected] = {
    "healthy": Expected(verdicts()),
    "no-serve-artifacts": Expected(
        verdicts(endpoints="failed", artifacts="failed", registration="failed", retrieval="error"),
        {"endpoints": NOT_SERVED, "artifacts": NOT_SERVED, "registration": "artifact_location 's3://",
         "retrieval": "owned by the registration criterion"}),
    "proxy-no-artifact-route": Expected(
        verdicts(endpoints="failed", artifacts="failed", registration="failed", retrieval="error"),
        {"endpoints": ROUTE_404, "artifacts": ROUTE_404, "registration": ROUTE_404,
         "retrieval": "owned by the registration criterion"}),
    "bucket-missing": Expected(
        verdicts(endpoints="failed", artifacts="failed", registration="failed", retrieval="error"),
        {"endpoints": "bucket does not exist", "artifacts": "bucket does not exist",
         "registration": "bucket does not exist", "retrieval": "owned by the registration criterion"},
        html_evidence="NoSuchBucket"),
    "body-limit": Expected(
        verdicts(artifacts="failed"),
        {"artifacts": "413 Request Entity Too Large: a request body of 16.0 MiB"}),
    "wrong-service-key": Expected(
        verdicts(endpoints="failed", auth="failed", artifacts="error", registration="error", retrieval="error"),
        {"endpoints": "issued for service id 'ml-platform'", "auth": "issued for service id 'ml-platform'",
         "artifacts": "owned by the endpoints criterion", "registration": "owned by the endpoints criterion",
         "retrieval": "owned by the endpoints criterion"}),
    "open-artifacts": Expected(
        verdicts(auth="failed"),
        {"auth": "anonymous requests are accepted on the artifact API"}),
}


def test_the_profiles_exist():
    """The deployment faults of issue 3 stay selectable (other criteria add profiles of their own)."""
    assert set(PROFILES) <= set(FAULTS), f"unknown profiles: {set(PROFILES) - set(FAULTS)}"


class ProfileRuns:
    """The suite against each wanted profile, ``JOBS`` runs at a time, started on first use."""

    def __init__(self, reports_root, profiles: list[str]):
        self.reports_root = reports_root
        self.profiles = profiles
        self.pool: ThreadPoolExecutor | None = None
        self.futures: dict[str, Future] = {}
        self.lock = threading.Lock()

    def get(self, profile: str) -> SuiteRun:
        with self.lock:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(JOBS, thread_name_prefix="profile")
                for name in self.profiles:
                    self.futures[name] = self.pool.submit(self._run, name)
        return self.futures[profile].result()

    def _run(self, profile: str) -> SuiteRun:
        reports = self.reports_root / profile
        return run_suite(reports, "-m", "local", "--stack", "processes", "--fault", profile, timeout=900)

    def drain(self) -> None:
        """Wait until no profile run is busy (a timing test must not share the machine with them)."""
        if self.pool is not None:
            for future in self.futures.values():
                future.exception()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


_RUNS: list[ProfileRuns] = []


@pytest.fixture(scope="module")
def profile_runs(request, tmp_path_factory):
    wanted = [item.callspec.params["profile"] for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec") and "profile" in item.callspec.params]
    runs = ProfileRuns(tmp_path_factory.mktemp("profiles"), list(dict.fromkeys(wanted)))
    _RUNS.append(runs)
    yield runs
    runs.close()
    _RUNS.remove(runs)


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
def test_fault_profile_verdicts_and_diagnosis(profile_runs, profile):
    expected = PROFILES[profile]
    run = profile_runs.get(profile)
    tail = run.output[-4000:]
    summary = run.summary
    validate_summary(summary)
    got = {name: summary["criteria"][name]["verdict"] for name in FIVE}
    assert got == expected.verdicts, f"{profile}: verdicts {got}\n{tail}"
    report = (run.reports / "acceptance.html").read_text()
    for name in FIVE:
        lines = summary["criteria"][name].get("diagnosis", [])
        if expected.verdicts[name] == "passed":
            assert not lines, f"{profile}: {name} passed but has a diagnosis: {lines}"
            continue
        # One line per finding: a fault gives a few findings, not one per request or per check.
        assert 1 <= len(lines) <= 3, f"{profile}: {name} diagnosis is not one line per finding: {lines}"
        assert len(set(lines)) == len(lines), f"{profile}: {name} diagnosis repeats itself: {lines}"
        needle = expected.diagnosis[name]
        assert any(needle in line for line in lines), f"{profile}: {name} diagnosis lacks {needle!r}: {lines}"
        # The same lines at the top of the HTML report and in the terminal summary.
        assert any(f"    - {line}" in run.output for line in lines if needle in line), \
            f"{profile}: the terminal summary lacks the {name} diagnosis\n{tail}"
        assert html.escape(needle) in report or needle in report, f"{profile}: the HTML report lacks {needle!r}"
    if expected.html_evidence:
        assert "log (excerpt)" in report and expected.html_evidence in report, \
            f"{profile}: the HTML report lacks the stack's log excerpt with {expected.html_evidence!r}"
    first = {name: (summary["criteria"][name].get("diagnosis") or ["-"])[0] for name in FIVE}
    print(f"\nPROFILE {profile} | " + " / ".join(got.values()) + f" | {run.wall_s:.0f} s | "
          + " || ".join(f"{name}: {line}" for name, line in first.items() if line != "-"))
    assert run.leftovers() == [], f"{profile}: stack processes outlived the run"
    if profile != "healthy":  # (healthy: the five pass; other criteria have self-tests of their own)
        assert run.returncode != 0 and summary["verdict"] == "failed", f"{profile}: the run did not fail\n{tail}"


@pytest.mark.slow
def test_live_run_against_broken_artifact_endpoint_ends_within_60_s(tmp_path):
    """`pytest -m live` against a registry whose artifact API answers 503 names the cause in under a minute."""
    for runs in _RUNS:  # measure on a quiet machine, not beside the profile runs
        runs.drain()
    with stack_by_hand("--fault", "no-serve-artifacts") as variables:
        stack_mark = variables.pop(MARK_VAR)
        run = run_suite(tmp_path, "-m", "live", env=clean_env(**variables), timeout=300)
    print(f"\nLIVE no-serve-artifacts: pytest -m live took {run.wall_s:.1f} s")
    assert run.wall_s < LIVE_BUDGET_S, f"the live run took {run.wall_s:.0f} s\n{run.output[-3000:]}"
    summary = run.summary
    assert summary["target"]["kind"] == "live"
    assert summary["criteria"]["artifacts"]["verdict"] == "failed"
    assert NOT_SERVED in "\n".join(summary["criteria"]["artifacts"]["diagnosis"]), summary["criteria"]["artifacts"]
    assert processes_marked(stack_mark) == [], "the hand-started stack left processes behind"


# --- fail fast: the MLflow client's own retry budget is bounded ----------------------------------

class _Always503(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _answer(self):
        type(self).hits.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"detail":"Artifact serving is disabled. Run `mlflow server` with `--serve-artifacts` to enable."}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


def test_mlflow_client_gives_up_on_a_503_artifact_api_in_seconds(tmp_path, monkeypatch):
    """With the suite's client settings, upload and download against a 503 artifact API fail in
    seconds (the client's defaults retry for about four minutes) and name the status."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    from fixtures.run import FAST_FAIL_ENV

    for name, value in FAST_FAIL_ENV.items():
        monkeypatch.setenv(name, value)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/api/mlflow"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", base)
        repo = HttpArtifactRepository(f"{base}/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts")
        local = tmp_path / "model.pkl"
        local.write_bytes(os.urandom(4096))
        (tmp_path / "out").mkdir()
        for action in (lambda: repo.log_artifact(str(local), "model"),
                       lambda: repo.download_artifacts("model/model.pkl", str(tmp_path / "out"))):
            started = time.monotonic()
            with pytest.raises(Exception, match="503"):
                action()
            assert time.monotonic() - started < 10
        assert 2 <= len(_Always503.hits) <= 4, _Always503.hits  # one retry each, not seven
    finally:
        server.shutdown()
        server.server_close()
