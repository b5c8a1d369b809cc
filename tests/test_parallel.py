"""Parallel and concurrent runs: ``pytest -m local -n 2`` shares one stack between its workers,
and two ``pytest -m live`` runs at the same time against one registry do not collide."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from .registry_state import (Target, embedded_stack, finish, kill_group, ledger_files, planted_secret, scan,
                             start_suite)
from .runner import ROOT, run_suite, validate_summary

pytestmark = pytest.mark.slow

STACK_STARTED = "acceptance: starting the local stack"


def test_xdist_run_starts_one_stack_and_passes(tmp_path):
    run = run_suite(tmp_path, "-m", "local", "--stack", "processes", "-n", "2", "--large-file-mb=4")
    assert run.output.count(STACK_STARTED) == 1, f"stack starts: {run.output.count(STACK_STARTED)}"
    assert "2 workers" in run.output, run.output[-3000:]
    assert run.returncode == 0, run.output[-3000:]
    validate_summary(run.summary)
    assert set(run.verdicts().values()) == {"passed"}, run.verdicts()
    tests = [t for c in run.summary["criteria"].values() for t in c["tests"]]
    assert tests and ledger_files(tmp_path) == []


def test_two_live_runs_at_once_both_pass_and_leave_the_registry_as_found(tmp_path):
    """Two pipelines at once against one registry; the second keeps its resources for debugging
    (--keep-resources): its report lists them with links, and the janitor removes them after."""
    secret = planted_secret()  # the API key both runs use: it must not show up in what they write
    with embedded_stack(api_key=secret) as endpoint:
        target = Target(endpoint)
        target.seed_foreign()
        before = target.snapshot()
        runs = [start_suite(tmp_path / f"reports-{i}", "-m", "live", "--large-file-mb=1", *extra, env=target.env(),
                            log=tmp_path / f"out-{i}.txt") for i, extra in ((1, ()), (2, ("--keep-resources",)))]
        try:
            outputs = [finish(proc, 420) for proc in runs]
        finally:
            for proc in runs:
                kill_group(proc, signal.SIGKILL)
        kept_on_registry = {m["name"] for m in target.suite_models()}
        janitor = subprocess.run([sys.executable, "-m", "fixtures.janitor", "--older-than", "0s",
                                  f"--reports-dir={tmp_path / 'reports-2'}"], cwd=ROOT, env=target.env(),
                                 capture_output=True, text=True, timeout=120)
        after = target.snapshot()
        leaks = scan([secret], tmp_path, *endpoint.logs.values(), *outputs, janitor.stdout + janitor.stderr)
    for proc, output in zip(runs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
    summaries = [run_summary(tmp_path / f"reports-{i}") for i in (1, 2)]
    assert summaries[0]["run_id"] != summaries[1]["run_id"]
    assert all(set(v["verdict"] for v in s["criteria"].values()) == {"passed"} for s in summaries)

    kept = summaries[1]["kept_resources"]
    kept_models = {row["name"] for row in kept if row["kind"] == "registered_model"}
    assert kept_models and kept_models == kept_on_registry, (kept, kept_on_registry)
    assert {row["kind"] for row in kept} >= {"experiment", "registered_model"}, kept
    html = (tmp_path / "reports-2" / "acceptance.html").read_text()
    for row in kept:
        if row["kind"] in ("experiment", "registered_model"):
            assert row["url"].startswith(f"{endpoint.tracking_uri}/#/"), row
            assert f'href="{row["url"]}"' in html, f"the report does not link {row['name']}"
    assert "kept_resources" not in summaries[0] and "--keep-resources" in outputs[1]
    assert janitor.returncode == 0 and all(row["name"] in janitor.stdout for row in kept), janitor.stdout

    assert after == before
    assert not leaks, leaks


def run_summary(reports):
    summary = json.loads((reports / "summary.json").read_text())
    validate_summary(summary)
    return summary
