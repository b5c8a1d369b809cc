"""Virtualenvs holding older MLflow servers, created once on demand and shared between runs.

An old server cannot share the project's venv (one MLflow per environment), so each version
gets its own venv under ``ACC_SERVER_VENVS`` (default ``~/.cache/mlflow-acceptance/servers``).
Creating one takes minutes: an exclusive lock serialises concurrent creators and a marker
file says the venv is complete, so a killed creation is redone rather than trusted.

    python -m tests.old_servers 2.22.5 3.4.0     # create them ahead of time (CI, a new laptop)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Old MLflow servers need sqlalchemy < 2.1 (2.1 dropped FallbackAsyncAdaptedQueuePool: the server
# dies at start); boto3 is not an MLflow dependency but the S3 artifact destination needs it.
EXTRA_REQUIREMENTS = ("boto3", "sqlalchemy<2.1")
MARKER = ".complete"
INSTALL_TIMEOUT_S = 1200


class OldServerError(RuntimeError):
    """An old-server venv could not be created; the message is one line."""


def cache_root() -> Path:
    configured = os.environ.get("ACC_SERVER_VENVS")
    return Path(configured) if configured else Path.home() / ".cache" / "mlflow-acceptance" / "servers"


def server_venv(version: str) -> Path:
    """The venv holding ``mlflow==version`` (created if missing); its ``bin/python`` runs the server."""
    venv = cache_root() / f"mlflow-{version}"
    if (venv / MARKER).exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"mlflow-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we die
        if (venv / MARKER).exists():  # another process made it while we waited
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # a half-made venv of a killed creator
        python = shutil.which("python3.11") or sys.executable
        _run([python, "-m", "venv", str(venv)], f"python3.11 -m venv {venv}")
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              f"mlflow=={version}", *EXTRA_REQUIREMENTS], f"pip install mlflow=={version}")
        installed = _run([str(venv / "bin" / "python"), "-c", "import boto3, mlflow; print(mlflow.__version__)"],
                         f"import mlflow in {venv}").strip()
        if installed != version:
            raise OldServerError(f"{venv} holds MLflow {installed}, not {version}")
        (venv / MARKER).write_text(version + "\n")
    return venv


def _run(argv: list[str], what: str) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OldServerError(f"{what} failed: {exc}") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise OldServerError(f"{what} failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}")
    return proc.stdout


if __name__ == "__main__":
    for wanted in sys.argv[1:]:
        try:
            print(server_venv(wanted), flush=True)
        except OldServerError as exc:
            sys.exit(f"error: {exc}")
