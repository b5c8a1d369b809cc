"""Retrieval: a registered model is found, downloaded intact and loads with the same predictions."""

import numpy as np
import pytest

from fixtures.expect import expect_json
from fixtures.workflows import short_error

pytestmark = pytest.mark.criterion("retrieval")


def load(uri: str):
    import mlflow.sklearn

    try:
        return mlflow.sklearn.load_model(uri)
    except Exception as exc:
        raise AssertionError(f"loading {uri}: {short_error(exc)}") from None


def test_download_uri_resolves(registry, model_version):
    """get-download-uri MUST resolve the version to an artifact URI served through the tracking URI."""
    got = expect_json(registry.api("GET", "model-versions/get-download-uri",
                                   params={"name": model_version.name, "version": model_version.version}))
    uri = got.get("artifact_uri", "")
    if uri.startswith("runs:/"):  # MLflow 2 answers a runs:/ source as it is: the client resolves it via the run
        run_id, _, path = uri.removeprefix("runs:/").partition("/")
        run = expect_json(registry.api("GET", "runs/get", params={"run_id": run_id}))["run"]
        uri = f"{run['info']['artifact_uri'].rstrip('/')}/{path}"
    assert uri.startswith("mlflow-artifacts:/"), f"download URI: {got} (resolves to {uri!r})"


def test_model_artifacts_download_intact(registry, model_version, tmp_path):
    """The version's artifacts MUST download through the registry and load as the same model."""
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(f"models:/{model_version.name}/{model_version.version}",
                                                    dst_path=str(tmp_path))
    except Exception as exc:
        raise AssertionError(f"downloading models:/{model_version.name}/{model_version.version}: "
                             f"{short_error(exc)}") from None
    assert (tmp_path / "MLmodel").exists() or any(tmp_path.rglob("MLmodel")), f"no MLmodel in {local}"
    np.testing.assert_array_equal(load(local).predict(model_version.trained.sample), model_version.trained.predict())


def test_load_by_version_predicts_the_same(registry, model_version):
    """models:/<name>/<version> MUST load and predict exactly as the original model."""
    model = load(f"models:/{model_version.name}/{model_version.version}")
    np.testing.assert_array_equal(model.predict(model_version.trained.sample), model_version.trained.predict())


def test_load_by_alias_predicts_the_same(registry, model_version, aliased_version):
    """models:/<name>@<alias> MUST load and predict exactly as the original model."""
    model = load(f"models:/{model_version.name}@{aliased_version}")
    np.testing.assert_array_equal(model.predict(model_version.trained.sample), model_version.trained.predict())
