"""pytest -m live against a stack started by hand passes, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from .runner import MARK_VAR, ROOT, clean_env, processes_marked, run_suite, validate_summary
from .stack_by_hand import ctrl_c_works, stack_by_hand

pytestmark = pytest.mark.slow


def test_live_run_against_hand_started_stack_passes(tmp_path):
    with stack_by_hand() as variables:
        stack_mark = variables.pop(MARK_VAR)
        run = run_suite(tmp_path, "-m", "live", env=clean_env(**variables))
        assert run.returncode == 0, run.output[-3000:]
        summary = run.summary
        validate_summary(summary)
        assert summary["verdict"] == "passed" and summary["target"]["kind"] == "live"
        token = variables["MLFLOW_TRACKING_TOKEN"]
        for output in ("summary.json", "junit.xml", "acceptance.html"):
            assert token not in (tmp_path / output).read_text(), f"the API key leaked into {output}"
        assert token not in run.output
    assert processes_marked(stack_mark) == [], "Ctrl-C on the stack command left processes behind"


def test_ctrl_c_during_local_run_leaves_nothing(tmp_path):
    env = clean_env()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-m", "local", "--stack", "processes",
                             f"--reports-dir={tmp_path}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ctrl_c_works)
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # wait until checks run: the stack is up
        if "acceptance/test_" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert processes_marked(env[MARK_VAR]) == []
