"""Parallel and concurrent runs: ``pytest -m local -n 2`` shares one stack between its workers,
and two ``pytest -m live`` runs at the same time against one registry do not collide."""

from __future__ import annotations

import signal

import pytest

from .registry_state import (Target, embedded_stack, finish, kill_group, ledger_files, planted_secret, scan,
                             start_suite)
from .runner import run_suite, validate_summary

pytestmark = pytest.mark.slow

STACK_STARTED = "acceptance: starting the local stack"


def test_xdist_run_starts_one_stack_and_passes(tmp_path):
    run = run_suite(tmp_path, "-m", "local", "--stack", "processes", "-n", "2")
    assert run.output.count(STACK_STARTED) == 1, f"stack starts: {run.output.count(STACK_STARTED)}"
    assert "2 workers" in run.output, run.output[-3000:]
    assert run.returncode == 0, run.output[-3000:]
    validate_summary(run.summary)
    assert set(run.verdicts().values()) == {"passed"}, run.verdicts()
    tests = [t for c in run.summary["criteria"].values() for t in c["tests"]]
    assert tests and ledger_files(tmp_path) == []


def test_two_live_runs_at_once_both_pass_and_leave_the_registry_as_found(tmp_path):
    secret = planted_secret()  # the API key both runs use: it must not show up in what they write
    with embedded_stack(api_key=secret) as endpoint:
        target = Target(endpoint)
        target.seed_foreign()
        before = target.snapshot()
        runs = [start_suite(tmp_path / f"reports-{i}", "-m", "live", "--large-file-mb=4", env=target.env(),
                            log=tmp_path / f"out-{i}.txt") for i in (1, 2)]
        try:
            outputs = [finish(proc, 420) for proc in runs]
        finally:
            for proc in runs:
                kill_group(proc, signal.SIGKILL)
        after = target.snapshot()
        stack_logs = [p for p in endpoint.logs.values()]
        leaks = scan([secret], tmp_path, *stack_logs, *outputs)
    for proc, output in zip(runs, outputs):
        assert proc.returncode == 0, output[-3000:]
    summaries = [run_summary(tmp_path / f"reports-{i}") for i in (1, 2)]
    assert summaries[0]["run_id"] != summaries[1]["run_id"]
    assert all(set(v["verdict"] for v in s["criteria"].values()) == {"passed"} for s in summaries)
    assert after == before
    assert not leaks, leaks


def run_summary(reports):
    import json

    summary = json.loads((reports / "summary.json").read_text())
    validate_summary(summary)
    return summary
