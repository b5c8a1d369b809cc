"""Target selection from MLflow's variables: pure functions, one-line errors."""

import pytest

from fixtures.target import TargetError, live_target, normalise_uri


def test_prefix_is_kept_and_trailing_slash_dropped():
    assert normalise_uri("https://registry.example.com/api/mlflow/") == "https://registry.example.com/api/mlflow"


@pytest.mark.parametrize("uri, fragment", [
    ("", "is not set"),
    ("registry.example.com", "must start with http"),
    ("ftp://registry.example.com", "must start with http"),
    ("https://", "no host"),
    ("https://alice:s3cret@registry.example.com", "contains credentials"),
    ("https://registry.example.com:99999", "invalid port"),
])
def test_bad_uris_give_one_line(uri, fragment):
    with pytest.raises(TargetError) as caught:
        normalise_uri(uri)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_token_means_bearer():
    target = live_target({"MLFLOW_TRACKING_URI": "http://h/api/mlflow", "MLFLOW_TRACKING_TOKEN": "tok-123"})
    assert target.auth == "bearer" and target.auth_header() == {"Authorization": "Bearer tok-123"}
    assert "tok-123" in target.secrets()


def test_basic_wins_over_token_like_the_mlflow_client():
    target = live_target({"MLFLOW_TRACKING_URI": "http://h", "MLFLOW_TRACKING_TOKEN": "t",
                          "MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "pw-secret"})
    assert target.auth == "basic" and target.auth_header()["Authorization"].startswith("Basic ")
    assert "pw-secret" in target.secrets()


def test_half_basic_credentials_are_refused():
    with pytest.raises(TargetError, match="both"):
        live_target({"MLFLOW_TRACKING_URI": "http://h", "MLFLOW_TRACKING_USERNAME": "u"})


def test_override_beats_environment_and_tls_settings_follow_mlflow():
    target = live_target({"MLFLOW_TRACKING_URI": "http://ignored", "MLFLOW_TRACKING_INSECURE_TLS": "true"},
                         tracking_uri="https://chosen/api/mlflow")
    assert target.tracking_uri == "https://chosen/api/mlflow" and target.verify is False
    assert target.mlflow_env()["MLFLOW_TRACKING_INSECURE_TLS"] == "true"
