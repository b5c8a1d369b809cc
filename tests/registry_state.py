"""Helpers for the cleanup, secrets and parallel-run tests: an embedded stack started in this
process (so the test knows its S3 bucket, its logs and, if wanted, a planted API key), a
snapshot of what a registry holds, resources that belong to somebody else, and waits."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests

from fixtures.registry import SUITE_NAME, TAG_CREATED, TAG_RUN, TAG_SUITE
from fixtures.stacks import processes
from fixtures.stacks.base import SERVICE_ID, StackEndpoint

from .runner import ROOT, clean_env
from .stack_by_hand import ctrl_c_works

API = "/api/2.0/mlflow"


def planted_secret() -> str:
    """A recognisable secret: it must never show up in any output."""
    return f"acc_PLANTED_SECRET_{uuid.uuid4().hex}"


@contextlib.contextmanager
def embedded_stack(api_key: str | None = None):
    """A healthy processes stack owned by this test process; ``api_key`` replaces the generated key."""
    with pytest.MonkeyPatch.context() as patch:
        if api_key is not None:
            def issue_planted_key(workdir: Path, fault: str):
                keys_file = workdir / "proxy-keys.json"
                keys_file.write_text(json.dumps({"keys": [
                    {"sha256": hashlib.sha256(api_key.encode()).hexdigest(), "service_id": SERVICE_ID}]}))
                return api_key, keys_file

            patch.setattr(processes, "issue_keys", issue_planted_key)
        stack = processes.ProcessStack()
        endpoint = stack.start()
    try:
        yield endpoint
    finally:
        stack.stop()


class Target:
    """Plain REST access to the stack, outside the suite (the suite is what is under test)."""

    def __init__(self, endpoint: StackEndpoint):
        self.endpoint = endpoint
        self.uri = endpoint.tracking_uri
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {endpoint.api_key}"

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(MLFLOW_TRACKING_URI=self.uri, MLFLOW_TRACKING_TOKEN=self.endpoint.api_key, **extra)

    def api(self, method: str, endpoint: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.uri}{API}/{endpoint}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else {}

    def put_artifact(self, path: str, data: bytes) -> None:
        url = f"{self.uri}/api/2.0/mlflow-artifacts/artifacts/{path}"
        self.session.put(url, data=data, timeout=30).raise_for_status()

    def experiments(self, view: str = "ACTIVE_ONLY") -> list[dict]:
        found = self.api("GET", "experiments/search", params={"view_type": view, "max_results": 1000})
        return found.get("experiments", [])

    def models(self) -> list[dict]:
        return self.api("GET", "registered-models/search", params={"max_results": 1000}).get("registered_models", [])

    def objects(self) -> list[str]:
        s3 = boto3.client("s3", endpoint_url=self.endpoint.s3_endpoint,
                          aws_access_key_id=processes.S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=processes.S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                          region_name=processes.S3_CREDENTIALS["AWS_DEFAULT_REGION"])
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.endpoint.bucket):
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        return sorted(keys)

    def snapshot(self) -> dict:
        """What 'the target as it was' means: active experiments, registered models (with their
        versions), and every object in the artifact bucket."""
        return {
            "experiments": sorted(e["name"] for e in self.experiments()),
            "models": sorted(m["name"] for m in self.models()),
            "objects": self.objects(),
        }

    def suite_models(self) -> list[dict]:
        return [m for m in self.models() if _tags(m).get(TAG_SUITE) == SUITE_NAME and "foreign" not in m["name"]]

    def seed_foreign(self) -> None:
        """Resources the suite must never touch, some of them deliberately close to its own."""
        old_run = "acc-20200101t000000-0000aa"
        created = "2020-01-01T00:00:00+00:00"
        team = self.api("POST", "experiments/create", json={"name": f"team-experiment-{uuid.uuid4().hex[:6]}"})
        self.put_artifact(f"{team['experiment_id']}/notes/readme.txt", b"not the suite's")
        # the suite's first experiment will be the next id, N: an object under "N0/" shares its S3 prefix
        self.put_artifact(f"{int(team['experiment_id']) + 1}0/sibling.txt", b"N vs N0: not the suite's")
        # acc- prefix but no tags at all
        self.api("POST", "registered-models/create", json={"name": f"acc-foreign-lookalike-{uuid.uuid4().hex[:6]}"})
        # the suite's tags but no creation time: its age is unknown, so the janitor leaves it
        self.api("POST", "registered-models/create", json={"name": f"{old_run}-foreign-undated", "tags": [
            {"key": TAG_SUITE, "value": SUITE_NAME}, {"key": TAG_RUN, "value": old_run}]})
        # the suite's tags, old, but the name does not carry the tagged run's prefix
        self.api("POST", "experiments/create", json={"name": f"acc-foreign-misnamed-{uuid.uuid4().hex[:6]}", "tags": [
            {"key": TAG_SUITE, "value": SUITE_NAME}, {"key": TAG_RUN, "value": old_run},
            {"key": TAG_CREATED, "value": created}]})
        # a foreign suite name with an otherwise perfect disguise
        self.api("POST", "experiments/create", json={"name": f"{old_run}-foreign-othersuite", "tags": [
            {"key": TAG_SUITE, "value": "another-suite"}, {"key": TAG_RUN, "value": old_run},
            {"key": TAG_CREATED, "value": created}]})


def _tags(resource: dict) -> dict:
    return {t["key"]: t["value"] for t in resource.get("tags", [])}


def wait_for(predicate, timeout_s: float, what: str, proc: subprocess.Popen | None = None, poll_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}:\n{read_output(proc)[-3000:]}")
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def start_suite(reports: Path, *args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``pytest`` as a user starts it, in its own process group (a terminal's Ctrl-C reaches the group)."""
    handle = open(log, "w")
    # preexec_fn: started from a background job (`... &`, some CI runners), SIGINT would be inherited as
    # ignored, and a Ctrl-C to the run's group would do nothing.
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:randomly", f"--reports-dir={reports}", *args],
                            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=ctrl_c_works)
    proc.log_path = log  # type: ignore[attr-defined]
    return proc


def read_output(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def finish(proc: subprocess.Popen, timeout_s: float = 300) -> str:
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc, signal.SIGKILL)
        raise
    return read_output(proc)


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def ledger_files(reports: Path) -> list[Path]:
    return sorted((reports / "ledger").glob("*.jsonl"))


def secret_forms(*secrets: str, username: str | None = None) -> list[str]:
    """The secrets and their encodings as they travel (a basic-auth header carries base64)."""
    forms = list(secrets)
    if username is not None:
        forms += [base64.b64encode(f"{username}:{s}".encode()).decode() for s in secrets]
    return forms


def scan(secrets: list[str], *places: Path | str) -> list[str]:
    """Every file under each directory (or each file) and each text given: where a secret shows up."""
    found = []
    for place in places:
        if isinstance(place, Path):
            files = [place] if place.is_file() else sorted(p for p in place.rglob("*") if p.is_file())
            for path in files:
                text = path.read_bytes().decode("utf-8", "replace")
                found += [f"{path}: {s[:24]}..." for s in secrets if s in text]
        else:
            found += [f"terminal output: {s[:24]}..." for s in secrets if s in place]
    return found
