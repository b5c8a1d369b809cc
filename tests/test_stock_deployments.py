"""pytest -m live against healthy, stock MLflow deployments (tests/stock.py) passes: no false alarms
on what users really run. Two insecure variants are still judged insecure."""

from __future__ import annotations

import contextlib
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fixtures.stacks.base import StackStartError

from .runner import MARK_VAR, ROOT, SuiteRun, clean_env, processes_marked, run_suite, validate_summary
from .stock import Deployment, Running

pytestmark = pytest.mark.slow

HEALTHY = ["basic-auth", "static-prefix", "mlflow-2.22", "mlflow-3.4", "nginx-bearer", "open"]
# case -> (deployment, pytest args; None: the deployment's own). Longest first: two run at a time.
CASES = {
    **{name: (name, None) for name in HEALTHY},
    "open-unexpected": ("open", ()),  # an open registry run without --expect-anonymous
    "open-default-hosts": ("open-default-hosts", None),
    # The team records the old server's known vulnerability as an accepted risk: the run passes.
    "mlflow-2.22-accepted": ("mlflow-2.22", ("--accept-findings", str(ROOT / "tests/data/accepted-old-servers.toml"))),
}
# Started with `python -m tests.stock NAME` and Ctrl-C, as a user does: the command is tested too.
BY_HAND = {"open"}
# Real vulnerabilities of old servers, verified by hand: the suite must report them, and nothing else.
# 2.22.5 and 3.4.0 accept a model-version source file:///etc/ when the version is tagged as a prompt
# (mlflow.prompt.is_prompt=true) and then serve the server's own files (/etc/passwd) through
# model-versions/get-artifact to any authenticated user; 3.17.2 refuses the source.
KNOWN_VULNERABLE = {"mlflow-2.22": {"source-traversal"}, "mlflow-3.4": {"source-traversal"}}
PARALLEL = 2  # 2 cores: at most two deployments, each with its suite run, at once
SUITE_TIMEOUT_S = 1500  # the basic-auth app costs ≈ 0.3-0.5 s per authenticated request


@dataclass
class Outcome:
    run: SuiteRun | None = None
    start_error: str = ""
    start_s: float = 0.0
    leftovers: list[str] = field(default_factory=list)


def _run_case(case: str, reports: Path) -> Outcome:
    name, args = CASES[case]
    base = clean_env()  # carries a mark: every process the deployment starts can be found later
    started = time.monotonic()
    try:
        with (_by_hand if case in BY_HAND else _in_process)(name, base) as running:
            run = run_suite(reports, "-m", "live", *(running.pytest_args if args is None else args),
                            env=clean_env(**running.env), timeout=SUITE_TIMEOUT_S)
    except StackStartError as exc:
        return Outcome(start_error=str(exc), start_s=time.monotonic() - started)
    leftovers = processes_marked(base[MARK_VAR]) + run.leftovers() + _alive_in_groups(running.pgids)
    return Outcome(run, start_s=running.start_s, leftovers=leftovers)


@contextlib.contextmanager
def _in_process(name: str, base_env: dict[str, str]):
    deployment = Deployment(name, base_env=base_env)
    try:
        running = deployment.start()
    except StackStartError as exc:
        logs = "\n".join(f"--- {c} ---\n{tail}" for c, tail in deployment.last_logs.items())
        raise StackStartError(f"{exc}\n{logs}") from None
    try:
        yield running
    finally:
        deployment.stop()


@contextlib.contextmanager
def _by_hand(name: str, base_env: dict[str, str]):
    """`python -m tests.stock NAME`: read its export lines, run, then Ctrl-C it (it must exit 0)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "tests.stock", name], cwd=ROOT, env=base_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed: list[str] = []
    try:
        for line in proc.stdout:  # EOF: the command exited (its own start timeout bounds the wait)
            printed.append(line)
            if line.startswith("logs: "):  # the last line it prints
                break
        else:
            raise StackStartError(f"python -m tests.stock {name} exited with {proc.wait()}:\n{''.join(printed)}")
        exports = dict(shlex.split(line[len("export "):])[0].partition("=")[::2]
                       for line in printed if line.startswith("export "))
        then = next(line for line in printed if line.startswith("then: ")).split()
        yield Running(name, exports, then[then.index("live") + 1:], Path(), time.monotonic() - started)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    if code != 0:
        raise AssertionError(f"python -m tests.stock {name} exited with {code} on Ctrl-C")


def _alive_in_groups(pgids: list[int]) -> list[str]:
    """Live processes in the deployment's process groups (nginx rewrites its environ: no mark there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state, _ppid, pgrp = (proc / "stat").read_text().rsplit(") ", 1)[1].split()[:3]
            if int(pgrp) in pgids and state != "Z":
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    """Every selected case, started at once on a pool of PARALLEL threads; tests wait for theirs."""
    selected = dict.fromkeys(item.callspec.params["case"] for item in request.session.items
                             if item.module is request.module and hasattr(item, "callspec"))
    pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="stock")
    futures = {case: pool.submit(_run_case, case, tmp_path_factory.mktemp(case)) for case in CASES if case in selected}
    yield futures
    pool.shutdown(cancel_futures=True)
    _print_times(request.config, futures)


def _print_times(config, futures: dict[str, Future]) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    reporter.write_line("")
    for case, future in futures.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            out = future.result()
            suite = f"suite {out.run.wall_s:.0f} s, exit {out.run.returncode}" if out.run else "did not start"
            reporter.write_line(f"stock deployment {case}: start {out.start_s:.0f} s, {suite}")


def outcome_of(outcomes: dict[str, Future], case: str) -> SuiteRun:
    out: Outcome = outcomes[case].result()
    if out.start_error.startswith("nginx is not installed"):  # .ci/run installs it; a laptop may not have it
        pytest.skip(f"deployment {case}: {out.start_error}")
    if out.start_error:
        pytest.fail(f"deployment {case} did not start: {out.start_error}", pytrace=False)
    if not (out.run.reports / "summary.json").exists():
        pytest.fail(explain(out.run), pytrace=False)
    return out.run


def explain(run: SuiteRun) -> str:
    """Verdicts, failed checks with their messages and findings: what a false alarm looks like."""
    try:
        summary = run.summary
    except (OSError, ValueError):
        return f"exit {run.returncode}, no summary.json:\n{run.output[-3000:]}"
    lines = [f"verdict {summary['verdict']}, exit {run.returncode} {summary.get('reason', '')}".rstrip()]
    for name, criterion in summary["criteria"].items():
        lines.append(f"{name}: {criterion['verdict']}")
        lines += [f"  {t['outcome']} {t['id']}: {t.get('message', '')[:400]}"
                  for t in criterion["tests"] if t["outcome"] in ("failed", "error")]
    lines += [f"finding {f['status']} {f['class']} ({f['severity']}, {f['proof']}): {f['evidence'][:300]}"
              for f in summary.get("findings", [])]
    return "\n".join(lines)


@pytest.mark.parametrize("case", [name for name in HEALTHY if name not in KNOWN_VULNERABLE])
def test_healthy_stock_deployment_passes(outcomes, case):
    run = outcome_of(outcomes, case)
    passed = run.returncode == 0 and run.summary["verdict"] == "passed"  # a bool: no SuiteRun dump
    assert passed, explain(run)
    validate_summary(run.summary)


@pytest.mark.parametrize("case", KNOWN_VULNERABLE)
def test_old_server_fails_only_on_its_known_vulnerability(outcomes, case):
    run = outcome_of(outcomes, case)
    validate_summary(run.summary)
    expected = {name: "failed" if name == "security" else "passed" for name in run.verdicts()}
    failing = {f["class"] for f in run.summary.get("findings", []) if f["status"] == "failing"}
    judged = run.returncode == 1 and run.verdicts() == expected and failing == KNOWN_VULNERABLE[case]
    assert judged, explain(run)
    read = next(f for f in run.summary["findings"] if f["id"] == "source-traversal/prompt-tag-file")
    assert (read["severity"], read["proof"]) == ("critical", "demonstrated") and "CVE-2026-2614" in read["cves"], read
    assert "older than the fix of" in run.diagnosis("security") and "CVE-2026-2614" in run.diagnosis("security")
    assert run.summary["target"]["compatibility"], "the old server's compatibility lines are missing"


@pytest.mark.parametrize("case", ["mlflow-2.22-accepted"])
def test_accepted_risk_lets_the_old_server_pass(outcomes, case):
    run = outcome_of(outcomes, case)
    validate_summary(run.summary)
    accepted = [f for f in run.summary["findings"] if f["status"] == "accepted"]
    judged = run.returncode == 0 and run.summary["verdict"] == "passed"
    assert judged and [f["id"] for f in accepted] == ["source-traversal/prompt-tag-file"], explain(run)
    assert "CVE-2026-2614" in accepted[0]["note"], accepted[0]


@pytest.mark.parametrize("case", ["open-unexpected"])
def test_open_registry_fails_auth_unless_expected(outcomes, case):
    run = outcome_of(outcomes, case)
    validate_summary(run.summary)
    judged = run.returncode == 1 and run.verdicts()["auth"] == "failed"
    assert judged and "anonymous" in run.diagnosis("auth").lower(), explain(run)


@pytest.mark.parametrize("case", ["open-default-hosts"])
def test_open_registry_with_default_hosts_fails_dns_rebinding(outcomes, case):
    run = outcome_of(outcomes, case)
    validate_summary(run.summary)
    rebinding = any(f["class"] == "dns-rebinding" and f["proof"] == "demonstrated" and f["status"] == "failing"
                    for f in run.summary.get("findings", []))
    judged = run.returncode == 1 and run.verdicts()["security"] == "failed"
    assert judged and rebinding, explain(run)


@pytest.mark.parametrize("case", CASES)
def test_no_process_outlives_a_deployment(outcomes, case):
    out: Outcome = outcomes[case].result()
    assert out.leftovers == [], f"{case} left processes behind: {out.leftovers}"
