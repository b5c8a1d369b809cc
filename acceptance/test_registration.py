"""Registration: a model logged with the MLflow client is registered, versioned, described and aliased."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from fixtures.expect import expect_json
from fixtures.workflows import short_error, wait_ready

pytestmark = pytest.mark.criterion("registration")


def test_logged_model_registers_and_becomes_ready(registry, model_version):
    """A scikit-learn model logged with the MLflow client MUST register as version 1 and reach READY."""
    assert model_version.version == "1", f"first registration got version {model_version.version}"
    assert wait_ready(registry, model_version.name, model_version.version)["status"] == "READY"


def test_second_registration_increments_version(registry, model_version):
    """Registering the same model again MUST create version 2."""
    request = {"name": model_version.name, "source": model_version.source, "run_id": model_version.run_id,
               "tags": registry.mlflow_tags()}
    if model_version.source.startswith("models:/"):  # MLflow 3 logged model: the id must come along
        request["model_id"] = model_version.source.removeprefix("models:/")
    created = expect_json(registry.api("POST", "model-versions/create", json=request))
    assert created["model_version"]["version"] == "2", f"second registration: {created['model_version']}"
    wait_ready(registry, model_version.name, "2")


def test_tags_and_description_read_back(registry, model_version):
    """Tags and a description set on a model version MUST read back unchanged."""
    key = {"name": model_version.name, "version": model_version.version}
    expect_json(registry.api("POST", "model-versions/set-tag", json={**key, "key": "stage", "value": "acceptance"}))
    expect_json(registry.api("PATCH", "model-versions/update", json={**key, "description": "checked by the suite"}))
    got = expect_json(registry.api("GET", "model-versions/get", params=key))["model_version"]
    tags = {t["key"]: t["value"] for t in got.get("tags", [])}
    assert tags.get("stage") == "acceptance" and got.get("description") == "checked by the suite", got


def test_alias_resolves_to_version(registry, model_version, aliased_version):
    """An alias set on a model version MUST resolve to that version."""
    got = expect_json(registry.api("GET", "registered-models/alias",
                                   params={"name": model_version.name, "alias": aliased_version}))
    assert got["model_version"]["version"] == model_version.version, got


PARALLEL = 4
NONCE = "acceptance.nonce"


def _versions(registry, name: str) -> dict[int, dict]:
    found = expect_json(registry.api("GET", "model-versions/search",
                                     params={"filter": f"name='{name}'", "max_results": 1000}))
    return {int(mv["version"]): {t["key"]: t["value"] for t in mv.get("tags", [])}
            for mv in found.get("model_versions", [])}


def test_parallel_registrations_get_distinct_versions(registry, model_version):
    """Versions of one model registered in parallel (MLflow client, 4 threads) MUST get distinct version numbers
    right above the previous highest, exactly one per request: a retried POST must not create a duplicate."""
    import mlflow

    name, source = model_version.name, model_version.source
    model_id = source.removeprefix("models:/") if source.startswith("models:/") else None
    before = _versions(registry, name)
    nonces = [f"{registry.run_id}-{uuid.uuid4().hex[:10]}" for _ in range(PARALLEL)]
    start = threading.Barrier(PARALLEL)

    def register(nonce: str) -> int:
        client = mlflow.MlflowClient(registry.target.tracking_uri)
        start.wait(timeout=30)
        return int(client.create_model_version(name, source, model_version.run_id, tags={**registry.tags, NONCE: nonce},
                                               model_id=model_id, await_creation_for=0).version)

    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {nonce: pool.submit(register, nonce) for nonce in nonces}
    errors = {n: short_error(f.exception()) for n, f in futures.items() if f.exception() is not None}
    returned = {n: f.result() for n, f in futures.items() if f.exception() is None}
    new = {v: tags for v, tags in _versions(registry, name).items() if v not in before}
    per_nonce: dict[str, list[int]] = {}
    for version, tags in sorted(new.items()):
        per_nonce.setdefault(tags.get(NONCE, "(none)"), []).append(version)
    duplicates = {n: vs for n, vs in per_nonce.items() if len(vs) > 1}
    assert not duplicates, (f"one registration request created several versions {duplicates}: the MLflow client "
                            "retries a POST after a 5xx/timeout, and the server had already created the first")
    assert not errors, f"{len(errors)} of {PARALLEL} parallel registrations failed: {sorted(set(errors.values()))}"
    assert len(set(returned.values())) == PARALLEL, f"parallel registrations were given the same version: {returned}"
    highest = max(before, default=0)
    assert sorted(new) == list(range(highest + 1, highest + PARALLEL + 1)), (
        f"after version {highest}, {PARALLEL} parallel registrations produced versions {sorted(new)}, "
        f"not {highest + 1}..{highest + PARALLEL}")
    assert {n: [v] for n, v in returned.items()} == per_nonce, (
        f"versions returned to the clients {returned} differ from the versions stored per nonce {per_nonce}")
    for version in sorted(new):
        wait_ready(registry, name, str(version))
