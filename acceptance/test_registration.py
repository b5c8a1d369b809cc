"""Registration: a model logged with the MLflow client is registered, versioned, described and aliased."""

import pytest

from fixtures.expect import expect_json
from fixtures.workflows import wait_ready

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
