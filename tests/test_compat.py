"""Version awareness (fixtures/compat.py): version parsing, the feature table, the skip decision and
the compatibility lines. Pure functions, no server."""

import json

import pytest
from packaging.version import Version

from fixtures import compat

FLASK_404 = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>"
MLFLOW_404 = json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Logged model with ID 'm-x' not found."})
SERVER_INFO_317 = json.dumps({"store_type": "SqlStore", "multipart_uploads_enabled": True,
                              "multipart_downloads_enabled": True})
SERVER_INFO_312 = json.dumps({"store_type": "SqlStore", "workspaces_enabled": False})


@pytest.mark.parametrize("text, expected", [
    ("2.22.5", "2.22.5"), ("3.4.0\n", "3.4.0"), ("v3.17.2", "3.17.2"), ("3.10.0.dev0", "3.10.0"),
    ("3.10.0rc1", "3.10.0"), ("", None), (None, None), ("<html>", None), ("unknown", None),
])
def test_server_versions_parse_to_their_release(text, expected):
    parsed = compat.parse_version(text)
    assert (str(parsed) if parsed else None) == expected


def test_feature_table_names_the_first_serving_versions():
    assert compat.FEATURES["logged-models"].since == Version("3.0.0")
    assert compat.FEATURES["server-info"].since == Version("3.10.0")
    assert compat.FEATURES["server-info multipart advertisement"].since == Version("3.15.0")
    for feature in compat.FEATURES.values():
        assert feature.probe.startswith("/api/"), feature


@pytest.mark.parametrize("status, body, missing", [
    (404, FLASK_404, True),  # Flask's page: no such route
    (404, '{"detail": "Not Found"}', True),  # FastAPI's
    (404, MLFLOW_404, False),  # MLflow's own error: the route exists
    (200, "{}", False), (401, "You are not authenticated", False), (500, "", False), (None, "", False),
])
def test_only_a_foreign_404_means_the_route_is_missing(status, body, missing):
    assert compat.route_missing(status, body) is missing


@pytest.mark.parametrize("name, server, status, body, skipped", [
    # server-info: 404 page on 3.4 -> skip; on 2.22 -> skip
    ("server-info", "3.4.0", 404, FLASK_404, True),
    ("server-info", "2.22.5", 404, FLASK_404, True),
    # it answers: supported whatever the version says
    ("server-info", "3.4.0", 200, SERVER_INFO_317, False),
    # the version says it exists but it 404s: the check fails as before
    ("server-info", "3.17.2", 404, FLASK_404, False),
    # unknown version: no guess
    ("server-info", None, 404, FLASK_404, False),
    ("server-info", "garbage", 404, FLASK_404, False),
    # another failure is the check's business
    ("server-info", "3.4.0", 503, "down", False),
    # logged models: MLflow's 404 for a missing id means the API is there
    ("logged-models", "2.22.5", 404, FLASK_404, True),
    ("logged-models", "2.22.5", 404, MLFLOW_404, False),
    ("logged-models", "3.4.0", 404, MLFLOW_404, False),
    ("logged-models", "3.4.0", 404, FLASK_404, False),
    # transfer capabilities: a field of server-info
    ("server-info multipart advertisement", "3.12.0", 200, SERVER_INFO_312, True),
    ("server-info multipart advertisement", "3.4.0", 404, FLASK_404, True),
    ("server-info multipart advertisement", "3.17.2", 200, SERVER_INFO_317, False),
    ("server-info multipart advertisement", "3.17.2", 200, SERVER_INFO_312, False),
    ("server-info multipart advertisement", "3.12.0", 200, SERVER_INFO_317, False),
])
def test_a_feature_is_skipped_only_when_the_answer_and_the_version_agree(name, server, status, body, skipped):
    reason = compat.lacks(name, server, status, body)
    assert (reason is not None) is skipped
    if skipped:
        assert reason == f"{name} is served since MLflow {compat.FEATURES[name].since}; the server reports {server}"


def test_skip_reason_names_both_versions():
    assert compat.lacks("server-info", "3.4.0", 404, FLASK_404) == (
        "server-info is served since MLflow 3.10.0; the server reports 3.4.0")


def test_compatibility_lines_for_a_2_22_server():
    lines = compat.compatibility_lines("2.22.5", "3.17.2", ["logged-models", "server-info",
                                                              "server-info multipart advertisement"])
    assert lines == [
        "MLflow >= 3 clients cannot log_model against this 2.22.5 server: /api/2.0/mlflow/logged-models is not "
        "served (MLflow < 3.0.0); the suite registers models from runs:/<run_id>/model instead",
        "server-info is not served (MLflow < 3.10.0): the 3.17.2 client moves artifacts through the tracking URI",
    ]


def test_compatibility_lines_for_a_3_4_server():
    assert compat.compatibility_lines("3.4.0", "3.17.2", ["server-info", "server-info multipart advertisement"]) == [
        "server-info is not served (MLflow < 3.10.0): the 3.17.2 client moves artifacts through the tracking URI"]


def test_compatibility_lines_for_a_3_12_server():
    assert compat.compatibility_lines("3.12.0", "3.17.2", ["server-info multipart advertisement"]) == [
        "server-info does not advertise multipart transfers (MLflow < 3.15.0): the 3.17.2 client moves artifacts "
        "through the tracking URI"]


def test_no_lines_when_nothing_is_lacking():
    assert compat.compatibility_lines("3.17.2", "3.17.2", []) == []


def test_a_2_x_client_has_no_logged_models_problem():
    assert compat.compatibility_lines("2.22.5", "2.22.5", ["logged-models"]) == []
