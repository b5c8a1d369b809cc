"""Crash-proof cleanup against a registry that already holds other people's resources:
a live run interrupted with Ctrl-C, a run whose xdist worker is killed, and a run killed
outright and cleaned by the janitor all leave the registry exactly as it was found
(active experiments, registered models, every object in the artifact bucket)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from fixtures.cleanup import owned
from fixtures.ledger import Ledger

from .registry_state import (Target, embedded_stack, finish, kill_group, ledger_files, start_suite, wait_for)
from .runner import ROOT

# Enough of the suite to create every kind of resource (experiment, runs, raw and client artifacts,
# logged model, registered model, versions, alias) and to be stopped in the middle.
CHECKS = ["acceptance/test_endpoints.py", "acceptance/test_registration.py", "acceptance/test_retrieval.py"]


@pytest.fixture(scope="module")
def target():
    with embedded_stack() as endpoint:
        target = Target(endpoint)
        target.seed_foreign()
        yield target


def suite_model_with_version(target: Target) -> str | None:
    """Name of a registered model of the suite that has a version: by then the run has an
    experiment, runs, a logged model, artifacts in the bucket and a registered model."""
    for model in target.suite_models():
        found = target.api("GET", "model-versions/search", params={"filter": f"name='{model['name']}'"})
        if found.get("model_versions"):
            return model["name"]
    return None


def janitor(target: Target, reports, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fixtures.janitor", f"--reports-dir={reports}", *args], cwd=ROOT,
                          env=target.env(), capture_output=True, text=True, timeout=120)


def assert_only_suite_experiments_deleted(target: Target) -> None:
    for experiment in target.experiments("DELETED_ONLY"):
        assert owned(experiment["name"], experiment.get("tags")), f"deleted somebody else's {experiment['name']}"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm-xdist"])
def test_interrupted_run_leaves_the_registry_as_found(target, tmp_path, how):
    """Ctrl-C in a terminal (SIGINT to the process group), and a CI timeout's SIGTERM to the
    controller of an xdist run: the run stops, cleans up, and the registry is as it was."""
    before = target.snapshot()
    reports = tmp_path / "reports"
    xdist = ["-n", "2"] if how == "sigterm-xdist" else []
    proc = start_suite(reports, "-m", "live", *xdist, *CHECKS, env=target.env(), log=tmp_path / "out.txt")
    try:
        wait_for(lambda: suite_model_with_version(target), 240, "the run to register a model", proc)
        assert target.snapshot() != before, "the run created nothing: the test proves nothing"
        if how == "ctrl-c":
            kill_group(proc, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        output = finish(proc, 180)
    finally:
        kill_group(proc, signal.SIGKILL)
    assert "KeyboardInterrupt" in output, output[-3000:]
    assert proc.returncode == 2, "an interrupted run must exit as interrupted (2), never pass"
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["verdict"] == "error" and "interrupted" in summary["reason"], summary.get("reason")
    assert ledger_files(reports) == [], "cleanup after the interrupt left ledger entries behind"
    assert target.snapshot() == before
    assert_only_suite_experiments_deleted(target)


@pytest.mark.slow
def test_killed_worker_is_cleaned_up_by_the_controller(target, tmp_path):
    before = target.snapshot()
    reports = tmp_path / "reports"
    proc = start_suite(reports, "-m", "live", "-n", "2", *CHECKS, env=target.env(), log=tmp_path / "out.txt")
    try:
        model = wait_for(lambda: suite_model_with_version(target), 240, "a worker to register a model", proc)
        worker = next(part for part in model.split("-") if part.startswith("gw"))
        ledger = next(p for p in ledger_files(reports) if p.name.endswith(f"-{worker}.jsonl"))
        os.kill(Ledger(ledger).header()["pid"], signal.SIGKILL)
        output = finish(proc, 300)
    finally:
        kill_group(proc, signal.SIGKILL)
    assert "crashed" in output, f"the worker was not killed:\n{output[-3000:]}"
    assert "cleanup: removed" in output, f"the controller did not clean the killed worker's ledger:\n{output[-3000:]}"
    assert ledger_files(reports) == []
    assert target.snapshot() == before
    swept = janitor(target, reports, "--older-than", "0s")
    assert swept.returncode == 0 and "removed 0 resource(s)" in swept.stdout, swept.stdout + swept.stderr
    assert target.snapshot() == before
    assert_only_suite_experiments_deleted(target)


@pytest.mark.slow
def test_killed_run_is_cleaned_up_by_the_janitor(target, tmp_path):
    before = target.snapshot()
    reports = tmp_path / "reports"
    proc = start_suite(reports, "-m", "live", *CHECKS, env=target.env(), log=tmp_path / "out.txt")
    try:
        model = wait_for(lambda: suite_model_with_version(target), 240, "the run to register a model", proc)
    finally:
        kill_group(proc, signal.SIGKILL)  # nothing of the suite runs any more: no teardown, no sweep
    proc.wait(timeout=30)
    left = target.snapshot()
    assert left != before and ledger_files(reports), "a killed run leaves its resources and its ledger"

    young = janitor(target, reports, "--older-than", "1h")
    assert young.returncode == 0 and "removed 0 resource(s)" in young.stdout, young.stdout + young.stderr
    dry = janitor(target, reports, "--older-than", "0s", "--dry-run")
    assert dry.returncode == 0 and f"would remove registered model {model}" in dry.stdout, dry.stdout + dry.stderr
    assert target.snapshot() == left, "the young run's resources or a dry run were touched"

    swept = janitor(target, reports, "--older-than", "0s")
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert f"removed registered model {model}" in swept.stdout and "removed experiment" in swept.stdout, swept.stdout
    assert "foreign" not in swept.stdout and "team-experiment" not in swept.stdout, swept.stdout
    assert ledger_files(reports) == []
    assert target.snapshot() == before
    assert_only_suite_experiments_deleted(target)


# --- without a stack --------------------------------------------------------------------------

RUN = "acc-20261123t163519-8a0ae1"
TAGS = {"acceptance.suite": "mlflow-registry-acceptance", "acceptance.run_id": RUN,
        "acceptance.created_at": "2026-11-23T16:35:19+00:00"}


def test_ownership_needs_the_suite_tags_and_the_run_prefix():
    assert owned(f"{RUN}-model", TAGS) and owned(f"{RUN}-gw1-experiment", TAGS, RUN)
    assert not owned(f"{RUN}-model", {}), "no tags: not the suite's"
    assert not owned(f"{RUN}-model", {**TAGS, "acceptance.suite": "another-suite"})
    assert not owned("acc-20200101t000000-000000-model", TAGS), "name of another run"
    assert not owned(f"{RUN}-model", TAGS, "acc-20261123t163519-ffffff"), "another run's resource"
    assert not owned(f"team-{RUN}-model", TAGS)


def test_only_an_experiments_own_artifact_tree_is_deleted():
    from fixtures.cleanup import _own_location, artifact_api_path

    assert artifact_api_path("mlflow-artifacts:/7") == "7" and artifact_api_path("s3://b/7") is None
    assert _own_location("7", "7") and _own_location("prefix/7", "7")
    for path in ("1", "", "../7", "a//7", "%2e%2e/7", "7/.."):
        assert not _own_location(path, "7"), path


def test_ledger_survives_a_cut_line_and_names_its_run(tmp_path):
    from fixtures.ledger import ledger_path, run_id_of, run_ledgers, started_at

    path = ledger_path(tmp_path, RUN, "gw0")
    ledger = Ledger(path, RUN, "http://127.0.0.1:1/api/mlflow")
    ledger.record("experiment", f"{RUN}-gw0-experiment")
    with open(path, "a") as handle:
        handle.write('{"kind": "registered_model", "key": "cut sh')  # SIGKILL in the middle of a write
    assert [e["key"] for e in ledger.entries()] == [f"{RUN}-gw0-experiment"]
    assert ledger.header()["tracking_uri"] == "http://127.0.0.1:1/api/mlflow" and ledger.header()["pid"] == os.getpid()
    assert run_id_of(path) == RUN and run_ledgers(tmp_path, RUN) == [path]
    assert started_at(RUN).isoformat() == "2026-11-23T16:35:19+00:00"


def test_janitor_ages():
    import argparse
    import datetime as dt

    from fixtures.janitor import parse_age

    assert parse_age("90s") == dt.timedelta(seconds=90) and parse_age("1h") == dt.timedelta(hours=1)
    assert parse_age("0") == dt.timedelta(0) and parse_age("2d") == dt.timedelta(days=2)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_age("soon")
