"""A run that cannot judge says why in one line and still writes summary.json with verdict error."""

from __future__ import annotations

import pytest

from fixtures.stacks.supervise import free_port

from .runner import clean_env, run_suite, validate_summary

CASES = {
    "missing-uri": ({}, "MLFLOW_TRACKING_URI is not set"),
    "malformed-uri": ({"MLFLOW_TRACKING_URI": "registry.example.com/api/mlflow"}, "must start with http"),
    "credentials-in-uri": ({"MLFLOW_TRACKING_URI": "https://user:hunter22@127.0.0.1:9/x"}, "contains credentials"),
    "connection-refused": ({"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}/api/mlflow"}, "connection refused"),
    "dns-failure": ({"MLFLOW_TRACKING_URI": "http://registry.invalid/api/mlflow"}, "DNS lookup failed"),
}


@pytest.mark.parametrize("case", CASES)
def test_unjudgeable_target_gives_one_line_and_error_verdict(tmp_path, case):
    env, expected = CASES[case]
    run = run_suite(tmp_path, "-m", "live", env=clean_env(**env), timeout=120)
    assert run.returncode != 0
    summary = run.summary
    validate_summary(summary)
    assert summary["verdict"] == "error" and expected in summary["reason"], summary.get("reason")
    assert "Traceback" not in run.output, run.output[-2000:]
    assert "hunter22" not in run.output and "hunter22" not in (tmp_path / "summary.json").read_text()
