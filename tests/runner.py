"""Run the acceptance suite the way a user does (a pytest subprocess) and read what it wrote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
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

    @property
    def summary(self) -> dict:
        return json.loads((self.reports / "summary.json").read_text())

    def verdicts(self) -> dict[str, str]:
        return {name: c["verdict"] for name, c in self.summary["criteria"].items()}

    def diagnosis(self, criterion: str) -> str:
        return "\n".join(self.summary["criteria"][criterion].get("diagnosis", []))


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the user's MLflow target, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "PYTEST_ADDOPTS"
           and not k.startswith("PYTEST_XDIST")}
    env.update(extra)
    return env


def run_suite(reports: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> SuiteRun:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", f"--reports-dir={reports}", *args],
        cwd=ROOT, env=env if env is not None else clean_env(), capture_output=True, text=True, timeout=timeout,
    )
    return SuiteRun(proc.returncode, proc.stdout + proc.stderr, reports, time.monotonic() - started)


def validate_summary(summary: dict) -> None:
    import jsonschema

    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))


def stack_processes() -> list[str]:
    """Command lines of running processes that belong to an embedded stack."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if re.search(r"mlflow-acceptance-|fixtures\.stacks\.authproxy|moto\.server", line)]
