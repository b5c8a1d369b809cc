"""Start a stack with `python -m fixtures.stacks` as a user does, and stop it with Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import contextmanager

from .runner import MARK_VAR, ROOT, clean_env


def ctrl_c_works() -> None:
    """A shell's background job (nohup ... &, some CI runners) starts with SIGINT ignored, and Python
    then never turns it into KeyboardInterrupt: the stack command would ignore our Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def stack_by_hand(*args: str, timeout_s: float = 120):
    """Yield {"MLFLOW_TRACKING_URI": ..., "MLFLOW_TRACKING_TOKEN": ..., MARK_VAR: ...} of a hand-started stack.

    After the block, ``processes_marked(variables[MARK_VAR])`` lists what it left behind.
    """
    env = clean_env()
    proc = subprocess.Popen([sys.executable, "-m", "fixtures.stacks", "--stack", "processes", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=ctrl_c_works)
    variables: dict[str, str] = {MARK_VAR: env[MARK_VAR]}
    try:
        deadline = time.monotonic() + timeout_s
        while "MLFLOW_TRACKING_TOKEN" not in variables and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"stack command exited with {proc.wait()}")
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                variables[name] = value
        yield variables
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
