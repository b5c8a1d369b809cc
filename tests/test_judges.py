"""The security judges on answers recorded from real MLflow servers, nginx and MLflow's basic-auth app."""

from __future__ import annotations

import json

import pytest

from fixtures.judges import (listing_names, mlflow_answered, names_location, not_served, path_refused,
                             rate_limited, reached_mlflow, refused, remove_dot_segments, rfc3986_path,
                             traversal_verdict)
from fixtures.probes import RawAnswer, echoes, server_paths

NAME = "acc-20261204t150000-abcdef-probe-0123456789ab"


def answer(status, body: str | bytes = "", headers=(), method="GET", target="/x") -> RawAnswer:
    data = body.encode() if isinstance(body, str) else body
    return RawAnswer(method, target, status, list(headers), data)


# Recorded: MLflow 3.17.2 registered-models/get for an absent name.
MLFLOW_NOT_FOUND = answer(404, json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST",
                                           "message": f"Registered Model with name={NAME} not found"}))
# Recorded: nginx `return 401;` page.
NGINX_401 = answer(401, "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center>"
                        "<h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n")
# Recorded: MLflow's basic-auth app without credentials.
BASIC_AUTH_401 = answer(401, "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/"
                             "index.html#authenticating-to-mlflow on how to authenticate.",
                        [("WWW-Authenticate", 'Basic realm="mlflow"')])
# Recorded: this project's proxy refusing a dot segment in MLflow's error format.
PROXY_INVALID_PATH = answer(400, '{"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}')
# Recorded: nginx answering an unrouted path.
NGINX_404 = answer(404, "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found"
                        "</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n")
# Recorded: MLflow 3.17.2 experiments/search.
MLFLOW_SEARCH = answer(200, '{"experiments": [{"experiment_id": "0", "name": "Default"}]}')
HEALTH = answer(200, "OK")
# Recorded: MLflow 3.17.2 --no-serve-artifacts.
NO_SERVE = answer(503, '{"detail":"Artifact serving is disabled. Run mlflow server with --serve-artifacts ..."}')
# Recorded: MLflow 3.17.2 artifact path traversal refused.
INVALID_PATH = answer(400, '{"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}')
# Recorded: Flask's redirect for '//' in an artifact path (DELETE artifacts//tmp/x).
FLASK_308 = answer(308, '<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>', method="DELETE")
# Recorded: MLflow 3.17.2 behind nginx, GET artifacts//abs/x with an S3 destination.
S3_MISSING_KEY = answer(500, "An error occurred (404) when calling the HeadObject operation: Not Found")


@pytest.mark.parametrize("recorded, reached", [
    (MLFLOW_NOT_FOUND, True), (MLFLOW_SEARCH, True), (answer(200, "<html><title>MLflow</title></html>"), True),
    (answer(200, '{"detail": "x"}'), True), (answer(503, '{"detail":"Artifact serving is disabled."}'), True),
    (answer(404, '{"detail":"Not Found"}'), False),  # recorded: uvicorn given an absolute-form target
    (NGINX_401, False), (BASIC_AUTH_401, False), (PROXY_INVALID_PATH, False),
    (NGINX_404, False), (HEALTH, False), (answer(None), False),
    (answer(403, f"Forbidden: /api/2.0/mlflow/registered-models/get?name={NAME}"), False),  # a refusal echoing the URL
    (answer(302, "", [("Location", "https://sso.example/login")]), False),
    (answer(200, "<html><title>Sign in</title></html>"), False),  # an SSO login page served with 200
])
def test_reached_mlflow(recorded, reached):
    assert reached_mlflow(recorded, NAME) is reached


@pytest.mark.parametrize("recorded, was_refused", [
    (NGINX_401, True), (BASIC_AUTH_401, True), (answer(403, "Permission denied"), True),
    (answer(400, "invalid_request"), True),  # RFC 6750: a malformed Bearer header
    (answer(405, "Method Not Allowed"), True), (answer(429, "slow down"), True), (NGINX_404, True),
    (answer(302, ""), True), (answer(None), True),
    (MLFLOW_NOT_FOUND, False), (MLFLOW_SEARCH, False), (answer(500, "Internal Server Error"), False),
])
def test_refused(recorded, was_refused):
    assert refused(recorded, NAME) is was_refused


def test_rate_limit_is_back_off_not_a_finding():
    assert rate_limited(answer(429, "Too Many Requests"))
    assert refused(answer(429, "Too Many Requests"), NAME)


@pytest.mark.parametrize("recorded, kept_out", [
    (INVALID_PATH, True), (PROXY_INVALID_PATH, True), (FLASK_308, True), (answer(None), True),
    (S3_MISSING_KEY, False), (MLFLOW_NOT_FOUND, False), (answer(200, "{}"), False), (answer(429, ""), False),
])
def test_path_refused(recorded, kept_out):
    assert path_refused(recorded) is kept_out


def test_artifact_api_not_served():
    assert not_served(NO_SERVE) and not_served(NGINX_404)
    assert not not_served(MLFLOW_NOT_FOUND) and not not_served(INVALID_PATH)


def test_mlflow_answered_ignores_a_bare_invalid_parameter():
    assert not mlflow_answered(PROXY_INVALID_PATH) and mlflow_answered(MLFLOW_NOT_FOUND)


@pytest.mark.parametrize("path, expected", [
    ("/a/b/c/./../../g", "/a/g"), ("mid/content=5/../6", "mid/6"), ("/a/../../b", "/b"), ("/a/b/..", "/a/"),
    ("/a/./", "/a/"),
])
def test_remove_dot_segments_follows_rfc3986(path, expected):
    assert remove_dot_segments(path) == expected


def test_rfc3986_path_decodes_unreserved_only():
    assert rfc3986_path("/x/1/raw/%2e%2e/%2E%2E/2/c.txt?path=../y#z") == "/x/2/c.txt"
    assert rfc3986_path("/x/1/raw/..%2f..%2f2/c.txt") == "/x/1/raw/..%2F..%2F2/c.txt"
    assert rfc3986_path("/x/%61pi") == "/x/api"


ART = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.mark.parametrize("target, named", [
    (f"{ART}/1/run-raw/../../2/run-canary/c.txt", True),  # a normaliser (nginx) resolves it the same way
    (f"{ART}/1/run-raw/%2e%2e/%2e%2e/2/run-canary/c.txt", True),
    (f"{ART}/1/run-raw/..%2f..%2f2/run-canary/c.txt", False),  # %2f is data: only a decoding server climbs
    (f"{ART}/1/run-raw/%252e%252e%252f%252e%252e%252f2/run-canary/c.txt", False),
])
def test_names_location_tells_standard_normalisation_from_traversal(target, named):
    assert names_location(target, "2/run-canary/c.txt") is named


def test_listing_names_reads_mlflow_listings():
    listing = answer(200, json.dumps({"files": [{"path": "2/run-canary/canary-1.txt", "is_dir": False,
                                                 "file_size": 10}]}))
    assert listing_names(listing, "canary-1.txt")
    assert not listing_names(listing, "canary-2.txt") and not listing_names(answer(200, "{}"), "canary-1.txt")
    assert not listing_names(answer(200, "not json"), "canary-1.txt")


def test_echoes_finds_a_secret_in_body_or_header_only_when_there():
    secret = "acceptance-wrong-0123456789"
    assert echoes(answer(401, f"bad token {secret}"), [secret]) == ["body"]
    assert echoes(answer(302, "", [("Location", f"/login?next=x&t={secret}")]), [secret]) == ["header Location"]
    assert echoes(NGINX_401, [secret]) == []


def test_server_paths_finds_backend_store_and_file_paths():
    leaked = answer(500, "sqlite:////srv/mlflow/mlflow.db is locked; see /var/lib/mlflow/x.log")
    assert server_paths(leaked.text) == ["/var/lib/mlflow/x.log", "sqlite:////srv/mlflow/mlflow.db"]
    assert server_paths(S3_MISSING_KEY.text) == [] and server_paths(MLFLOW_NOT_FOUND.text) == []


CANARY = answer(200, "acceptance canary 0123")


@pytest.mark.parametrize("recorded, kwargs, expected", [
    # the registry itself resolved '..' in a query parameter: no proxy rewrites queries
    (CANARY, dict(escaped=True, named=False, via_query=True), ("high", "demonstrated")),
    # nginx resolved a plain '../' climb: the client named the canary's place
    (CANARY, dict(escaped=True, named=True, via_query=False), None),
    # nginx decoded %2F in front; MLflow refuses the same climb in a query
    (CANARY, dict(escaped=True, named=False, via_query=False, control=INVALID_PATH), ("info", "indicated")),
    # an encoded climb reached the canary and MLflow resolves it too (or nobody checked)
    (CANARY, dict(escaped=True, named=False, via_query=False, control=answer(200, "{}")), ("medium", "indicated")),
    (CANARY, dict(escaped=True, named=False, via_query=False), ("medium", "indicated")),
    # looked up, nothing shown (S3 keeps '..' literally): a 500 naming a missing key
    (S3_MISSING_KEY, dict(escaped=False, named=False, via_query=True), ("low", "indicated")),
    (S3_MISSING_KEY, dict(escaped=False, named=False, via_query=False, lookup="info"), ("info", "indicated")),
    # refused: a fixed MLflow, a proxy's own 400, Flask's redirect
    (INVALID_PATH, dict(escaped=False, named=False, via_query=True), None),
    (FLASK_308, dict(escaped=False, named=False, via_query=False), None),
])
def test_traversal_verdict(recorded, kwargs, expected):
    verdict = traversal_verdict(recorded, **kwargs)
    assert (None if verdict is None else (verdict.severity, verdict.proof)) == expected
