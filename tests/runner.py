"""Run the acceptance suite the way a user does (a pytest subprocess) and read what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "data" / "summary.schema.json"


@dataclass
class SuiteRun:
    returncode: int
    output: str
    reports: Path
    wall_s: float
    mark: str = ""

    def leftovers(self) -> list[str]:
        """Processes started by this run that are still alive."""
        return processes_marked(self.mark)

    @property
    def summary(self) -> dict:
        return json.loads((self.reports / "summary.json").read_text())

    def verdicts(self) -> dict[str, str]:
        return {name: c["verdict"] for name, c in self.summary["criteria"].items()}

    def diagnosis(self, criterion: str) -> str:
        return "\n".join(self.summary["criteria"][criterion].get("diagnosis", []))


MARK_VAR = "ACC_SELFTEST_MARK"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the user's MLflow target, plus ``extra``.

    A fresh mark is added: every process started from it inherits the mark, so
    ``processes_marked`` finds exactly what this run left behind.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "PYTEST_ADDOPTS"
           and not k.startswith("PYTEST_XDIST")}
    env[MARK_VAR] = uuid.uuid4().hex
    env.update(extra)
    return env


def processes_marked(mark: str) -> list[str]:
    """Command lines of live processes whose environment carries ``mark``."""
    needle = f"{MARK_VAR}={mark}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                state = (proc / "stat").read_text().split(") ", 1)[1][:1]
                if state != "Z":
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
        except OSError:
            continue
    return found


def run_suite(reports: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> SuiteRun:
    started = time.monotonic()
    env = env if env is not None else clean_env()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"--reports-dir={reports}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    return SuiteRun(proc.returncode, proc.stdout + proc.stderr, reports, time.monotonic() - started, env[MARK_VAR])


def validate_summary(summary: dict) -> None:
    import jsonschema

    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
