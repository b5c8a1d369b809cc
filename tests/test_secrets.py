"""Secret hygiene: recognisable secrets planted as a refused bearer token, a basic-auth password
and the userinfo of a tracking URI never reach any output: summary.json, junit.xml, the HTML
report (environment table, captured logs, request evidence), the ledger, the terminal, the
janitor's output or the stack's logs. (A planted API key that the registry *accepts* is scanned
for in two passing runs by tests/test_parallel.py.)"""

from __future__ import annotations

import signal
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from .registry_state import (Target, embedded_stack, finish, kill_group, planted_secret, scan, secret_forms,
                             start_suite)
from .runner import ROOT, clean_env

pytestmark = pytest.mark.slow

USER = "acc-planted-user"


def test_planted_secrets_reach_no_output(tmp_path):
    api_key, wrong_token, password = planted_secret(), planted_secret(), planted_secret()
    secrets = secret_forms(api_key, wrong_token, password, username=USER)
    with embedded_stack(api_key=api_key) as endpoint:
        target = Target(endpoint)
        uri = target.uri
        parts = urlsplit(uri)
        with_userinfo = urlunsplit((parts.scheme, f"{USER}:{password}@{parts.netloc}", parts.path, "", ""))
        variants = {
            "wrong-token": clean_env(MLFLOW_TRACKING_URI=uri, MLFLOW_TRACKING_TOKEN=wrong_token),
            "basic": clean_env(MLFLOW_TRACKING_URI=uri, MLFLOW_TRACKING_USERNAME=USER,
                               MLFLOW_TRACKING_PASSWORD=password),
            "userinfo": clean_env(MLFLOW_TRACKING_URI=with_userinfo, MLFLOW_TRACKING_TOKEN=api_key),
        }
        runs = {name: start_suite(tmp_path / name, "-m", "live", "--large-file-mb=1", env=env,
                                  log=tmp_path / f"{name}.out") for name, env in variants.items()}
        try:
            outputs = {name: finish(proc, 300) for name, proc in runs.items()}
        finally:
            for proc in runs.values():
                kill_group(proc, signal.SIGKILL)
        janitors = [subprocess.Popen([sys.executable, "-m", "fixtures.janitor", "--older-than", "0s",
                                      f"--reports-dir={tmp_path / name}"], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    for name, env in variants.items()]
        janitor_output = [j.communicate(timeout=120)[0] for j in janitors]
        leaks = scan(secrets, tmp_path, *endpoint.logs.values(), *outputs.values(), *janitor_output)

    for name in ("wrong-token", "basic"):  # refused credentials: failing checks with evidence attached
        summary = (tmp_path / name / "summary.json").read_text()
        assert runs[name].returncode != 0 and '"failed"' in summary, outputs[name][-3000:]
        assert "HTTP exchanges (credentials blanked)" in (tmp_path / name / "acceptance.html").read_text()
    assert "tracking URI contains credentials" in outputs["userinfo"], outputs["userinfo"][-3000:]
    assert all(j.returncode == 2 for j in janitors), janitor_output  # refused: it says so and stops
    assert not leaks, leaks
