"""Endpoint availability: every API family answers through the configured tracking URI."""

import uuid

import pytest

from fixtures import compat
from fixtures.expect import expect_json, expect_status

pytestmark = pytest.mark.criterion("endpoints")


def test_health_answers(registry):
    """GET /health MUST answer 200 through the tracking URI."""
    expect_status(registry.get("/health", auth=False), 200)


def test_version_is_reported(registry):
    """GET /version MUST answer 200 with the server's MLflow version."""
    response = expect_status(registry.get("/version"), 200)
    assert response.text.strip()[:1].isdigit(), f"/version answered {response.text[:80]!r}, not a version"


def test_server_info_answers(registry):
    """GET /api/3.0/mlflow/server-info MUST describe the store (on servers whose MLflow version serves it)."""
    response = registry.get(compat.SERVER_INFO)
    if reason := compat.lacks("server-info", registry.server_version, response.status_code, response.text):
        pytest.skip(reason)
    info = expect_json(response)
    assert "store_type" in info, f"server-info lacks store_type: {info}"


def test_tracking_api_answers(registry):
    """The tracking API (experiments/search) MUST answer 200."""
    expect_json(registry.api("GET", "experiments/search", params={"max_results": 1}))


def test_registry_api_answers(registry):
    """The model registry API (registered-models/search) MUST answer 200."""
    expect_json(registry.api("GET", "registered-models/search", params={"max_results": 1}))


def test_artifact_api_write_read_delete(registry, artifact_root):
    """The artifact API MUST store, return and delete a canary file (health alone proves nothing)."""
    path = registry.artifact_url_path(f"{artifact_root}/canary-{uuid.uuid4().hex[:8]}.txt")
    canary = f"canary {registry.run_id}".encode()
    stored = registry.http.put(path, data=canary)
    if stored.status_code >= 500:  # evidence for the diagnosis: a listing names S3 errors a PUT hides (NoSuchBucket)
        registry.list_artifacts(artifact_root)
    expect_status(stored, 200)
    assert expect_status(registry.get(path), 200).content == canary, "the canary came back changed"
    expect_status(registry.http.delete(path), 200)


def test_new_experiments_use_proxied_artifacts(registry, experiment):
    """New experiments MUST get an artifact_location under mlflow-artifacts:/ (served by the proxy)."""
    location = experiment["artifact_location"]
    assert location.startswith("mlflow-artifacts:/"), (
        f"new experiment got artifact_location {location!r}, not mlflow-artifacts:/...")
