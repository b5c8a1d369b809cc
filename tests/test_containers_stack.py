"""The container stack (fixtures/stacks/containers.py) against real containers.

Skipped when no Docker engine answers or the images are missing; build them with
``docker/build-offline-images.sh``. Starts a healthy stack once for the module, a
``no-serve-artifacts`` one, one that fails on purpose and one interrupted with Ctrl-C;
after each, nothing the stack created may be left in ``docker ps -a`` or ``docker network ls``.
"""

from __future__ import annotations

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

from fixtures.stacks import docker_available
from fixtures.stacks.base import StackStartError

REPO = Path(__file__).resolve().parents[1]


def _skip_reason() -> str | None:
    if not docker_available():
        return "no Docker engine answers"
    try:
        from fixtures.stacks.containers import missing_images
    except ImportError as exc:
        return f"the container stack cannot be imported ({exc}); install the 'containers' extra"
    missing = missing_images()
    if missing:
        return f"container images missing: {', '.join(missing)}; run docker/build-offline-images.sh"
    return None


SKIP_REASON = _skip_reason()


def needs_stack(test):
    """Slow, and skipped with the reason when there is no engine or no images."""
    return pytest.mark.slow(pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")(test))


if SKIP_REASON is None:
    from fixtures.stacks.containers import LABEL_PID, LABEL_STACK, ContainerStack


def _docker_lines(*argv: str) -> list[str]:
    out = subprocess.run(["docker", *argv], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def _leftovers(run_id: str) -> list[str]:
    """What `docker ps -a` and `docker network ls` still show of one stack run."""
    label = f"label={LABEL_STACK}={run_id}"
    containers = _docker_lines("ps", "-a", "--filter", label, "--format", "{{.Names}}")
    containers += [n for n in _docker_lines("ps", "-a", "--format", "{{.Names}}") if run_id in n]
    networks = _docker_lines("network", "ls", "--filter", label, "--format", "{{.Name}}")
    networks += [n for n in _docker_lines("network", "ls", "--format", "{{.Name}}") if run_id in n]
    return sorted(set(containers)) + sorted(set(networks))


def _stack_ids(pid: int) -> set[str]:
    """Run ids of the stacks that process ``pid`` started and that still have something."""
    fmt = "{{.Label \"" + LABEL_STACK + "\"}}"
    ids = _docker_lines("ps", "-a", "--filter", f"label={LABEL_PID}={pid}", "--format", fmt)
    ids += _docker_lines("network", "ls", "--filter", f"label={LABEL_PID}={pid}", "--format", fmt)
    return set(ids)


def _auth(endpoint) -> dict[str, str]:
    return {"Authorization": f"Bearer {endpoint.api_key}"}


def _artifact_url(endpoint, path: str) -> str:
    return f"{endpoint.tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{path}"


@pytest.fixture(scope="module")
def healthy():
    stack = ContainerStack()
    started = time.monotonic()
    endpoint = stack.start()
    print(f"\ncontainer stack ready in {time.monotonic() - started:.1f} s")
    try:
        yield stack, endpoint
    finally:
        stack.stop()
        assert _leftovers(stack.run_id) == []


@needs_stack
def test_health_is_anonymous(healthy):
    _, endpoint = healthy
    response = requests.get(f"{endpoint.tracking_uri}/health", timeout=10)
    assert response.status_code == 200, response.text


@needs_stack
def test_version_needs_the_api_key(healthy):
    _, endpoint = healthy
    anonymous = requests.get(f"{endpoint.tracking_uri}/version", timeout=10)
    assert anonymous.status_code == 401, anonymous.text
    keyed = requests.get(f"{endpoint.tracking_uri}/version", headers=_auth(endpoint), timeout=10)
    assert keyed.status_code == 200, keyed.text
    assert keyed.text.strip() == "3.17.2"


@needs_stack
def test_artifact_round_trip_lands_in_the_bucket(healthy):
    _, endpoint = healthy
    path = f"acceptance/{uuid.uuid4().hex}/hello.bin"
    body = os.urandom(300_000)
    put = requests.put(_artifact_url(endpoint, path), data=body, headers=_auth(endpoint), timeout=30)
    assert put.status_code == 200, put.text
    get = requests.get(_artifact_url(endpoint, path), headers=_auth(endpoint), timeout=30)
    assert get.status_code == 200, get.text
    assert get.content == body
    # The S3 endpoint the stack reports is the one MLflow writes to, reachable from here.
    s3 = boto3.client("s3", endpoint_url=endpoint.s3_endpoint, aws_access_key_id="acceptance",
                      aws_secret_access_key="acceptance-secret", region_name="us-east-1")
    stored = s3.get_object(Bucket=endpoint.bucket, Key=f"mlartifacts/{path}")["Body"].read()
    assert stored == body


@needs_stack
def test_presigned_download_url_is_reachable_from_the_host(healthy):
    """MLflow signs URLs for its S3 endpoint; clients (3.15+) download from them directly."""
    _, endpoint = healthy
    path = f"acceptance/{uuid.uuid4().hex}/presigned.txt"
    requests.put(_artifact_url(endpoint, path), data=b"direct", headers=_auth(endpoint),
                 timeout=30).raise_for_status()
    presigned = requests.get(f"{endpoint.tracking_uri}/api/2.0/mlflow-artifacts/presigned/{path}",
                             headers=_auth(endpoint), timeout=30)
    assert presigned.status_code == 200, presigned.text
    info = presigned.json()
    assert info["url"].startswith(endpoint.s3_endpoint + "/"), info["url"]
    direct = requests.get(info["url"], headers=info.get("headers") or {}, timeout=30)
    assert direct.status_code == 200 and direct.content == b"direct"


@needs_stack
def test_new_experiments_use_proxied_artifacts(healthy):
    _, endpoint = healthy
    created = requests.post(f"{endpoint.tracking_uri}/api/2.0/mlflow/experiments/create",
                            json={"name": f"containers-{uuid.uuid4().hex[:8]}"}, headers=_auth(endpoint),
                            timeout=30)
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    got = requests.get(f"{endpoint.tracking_uri}/api/2.0/mlflow/experiments/get",
                       params={"experiment_id": experiment_id}, headers=_auth(endpoint), timeout=30)
    assert got.status_code == 200, got.text
    assert got.json()["experiment"]["artifact_location"].startswith("mlflow-artifacts:/")


@needs_stack
def test_log_tails_name_every_component(healthy):
    stack, _ = healthy
    tails = stack.log_tails(2000)
    assert set(tails) == {"s3", "postgres", "mlflow", "proxy"}
    assert all(len(text) <= 2000 for text in tails.values())
    assert all(text.strip() for text in tails.values()), tails
    assert "/api/mlflow/" in tails["proxy"]


@needs_stack
def test_no_serve_artifacts_answers_503_and_stop_leaves_nothing():
    stack = ContainerStack(fault="no-serve-artifacts")
    try:
        endpoint = stack.start()
        put = requests.put(_artifact_url(endpoint, "acceptance/blocked.txt"), data=b"x",
                           headers=_auth(endpoint), timeout=30)
        assert put.status_code == 503, put.text
        assert "serve-artifacts" in put.text
        health = requests.get(f"{endpoint.tracking_uri}/health", timeout=10)
        assert health.status_code == 200
    finally:
        stack.stop()
    assert _leftovers(stack.run_id) == []
    assert "mlflow" in stack.log_tails()  # the logs outlive the containers


@needs_stack
def test_failed_start_leaves_nothing(monkeypatch):
    # The base image's python3 exits at once: the "mlflow" container dies while starting.
    base = os.environ.get("ACC_BASE_IMAGE") or _images_env()["ACC_BASE_IMAGE"]
    monkeypatch.setenv("ACC_MLFLOW_IMAGE", base)
    stack = ContainerStack()
    with pytest.raises(StackStartError, match="mlflow container exited"):
        stack.start()
    assert _leftovers(stack.run_id) == []


@needs_stack
def test_missing_image_is_one_line_pointing_at_the_build_script(monkeypatch):
    monkeypatch.setenv("ACC_PROXY_IMAGE", "mlflow-acceptance/not-built:0")
    stack = ContainerStack()
    with pytest.raises(StackStartError) as caught:
        stack.start()
    message = str(caught.value)
    assert "docker/build-offline-images.sh" in message and "\n" not in message
    assert _leftovers(stack.run_id) == []


@needs_stack
def test_ctrl_c_during_start_leaves_nothing():
    # SIGINT back to its default in the child: a shell's background job would inherit it ignored.
    proc = subprocess.Popen([sys.executable, "-m", "fixtures.stacks", "--stack", "containers"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not _stack_ids(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        started = _stack_ids(proc.pid)
        assert started, "the stack created nothing within 60 s"
        time.sleep(0.5)  # well inside start(): containers are being created or probed
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "ready in" not in output, "the stack finished starting before the interrupt; test is void"
    assert proc.returncode == 130, output
    assert _stack_ids(proc.pid) == set(), output
    for run_id in started:
        assert _leftovers(run_id) == [], output


def _images_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (REPO / "docker" / "images.env").read_text().splitlines()
             if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_compose_file_defaults_match_images_env():
    """docker/compose.yaml repeats docker/images.env's defaults; they must not drift apart."""
    compose = (REPO / "docker" / "compose.yaml").read_text()
    for var, image in _images_env().items():
        if var != "ACC_BASE_IMAGE":
            assert f"${{{var}:-{image}}}" in compose, f"{var} default in compose.yaml is not {image}"
