"""The diagnosis rules on synthetic evidence: every fault class the suite must tell apart
gives one line naming its cause and fix, and repeated evidence of one cause stays one line."""

from __future__ import annotations

import pytest

from fixtures import diagnosis
from fixtures.diagnosis import diagnose, evidence_from_message, explain_run_error
from fixtures.report.results import CheckResult, Results

ART = "/api/2.0/mlflow-artifacts/artifacts/1/acc-run-raw"
TRACKING_OK = {"method": "GET", "path": "/api/2.0/mlflow/experiments/search", "status": 200,
               "body": '{"experiments": []}'}
NOT_ENABLED = '{"detail":"Artifact serving is disabled. Run `mlflow server` with `--serve-artifacts` to enable."}'
SERVICE_403 = ('{"error_code": "PERMISSION_DENIED", "message": "API key was issued for service id '
               "'ml-platform', this registry accepts 'platform'.\"}")


def ex(method: str, path: str, status: int | None, body: str = "", error: str = "",
       credentials: str = "configured", request_bytes: int = 0) -> dict:
    return {"method": method, "path": path, "status": status, "body": body, "error": error,
            "credentials": credentials, "request_bytes": request_bytes, "elapsed_ms": 1.0}


def check(name: str, exchanges=(), message: str = "", outcome: str = "failed", criterion: str = "artifacts"):
    return CheckResult(f"acceptance/test_{criterion}.py::{name}", criterion, outcome=outcome, message=message,
                       exchanges=list(exchanges))


def run_diagnosis(*checks: CheckResult, tracking_works: bool = True, criterion: str = "artifacts") -> list[str]:
    results = Results()
    every = list(checks)
    if tracking_works:
        every.append(check("test_tracking_api_answers", [TRACKING_OK], outcome="passed", criterion="endpoints"))
    for c in every:
        results.checks[c.nodeid] = c
    return diagnose(criterion, [c for c in every if c.criterion == criterion], results, "3.17.2")


def one_line(lines: list[str], *needles: str) -> str:
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# --- one case per fault class: evidence -> the words the line must contain ----------------------

CASES = {
    "no-serve-artifacts (503 'not enabled')": (
        [ex("PUT", f"{ART}/a.txt", 503, NOT_ENABLED)], ["503", "--serve-artifacts", "artifact serving"]),
    "artifact API 503 hidden by the MLflow client": (
        [], ["too many 503", "--serve-artifacts"],
        "MLflow client upload (proxied): MlflowException: API request to http://h:1/api/mlflow"
        f"{ART}/x.bin failed with exception HTTPConnectionPool(host='h', port=1): Max retries exceeded with url: "
        f"/api/mlflow{ART}/x.bin (Caused by ResponseError('too many 503 error responses'))"),
    "proxy does not route the artifact API (404, tracking works)": (
        [ex("PUT", f"{ART}/a.txt", 404, "Not Found")], ["404", "does not route /api/2.0/mlflow-artifacts/*"]),
    "proxy 404 seen by the MLflow client": (
        [], ["404", "does not route"],
        "log and register with the MLflow client: HTTPError: 404 Client Error: Not Found for url: "
        f"http://h:1/api/mlflow{ART}/model/MLmodel. Response text: Not Found"),
    "wrong path prefix (tracking API 404 too)": (
        [ex("GET", "/api/2.0/mlflow/experiments/search", 404, "<html>Not Found</html>")],
        ["path prefix", "MLFLOW_TRACKING_URI"], None, False),
    "artifact writes 500 while tracking works": (
        [ex("PUT", f"{ART}/a.txt", 500, "Internal Server Error")],
        ["500", "cannot write its artifact destination", "MLFLOW_S3_ENDPOINT_URL", "IAM"]),
    "artifact writes 500 seen by the MLflow client": (
        [], ["500", "artifact destination"],
        f"MLflow client upload (proxied): MlflowException: API request to http://h:1/api/mlflow{ART}/c.bin failed "
        "with exception HTTPConnectionPool(host='h', port=1): Max retries exceeded (Caused by ResponseError('too "
        "many 500 error responses'))"),
    "bucket missing": (
        [ex("GET", "/api/2.0/mlflow-artifacts/artifacts?path=1", 404,
            "An error occurred (NoSuchBucket): The specified bucket does not exist")],
        ["bucket does not exist", "--artifacts-destination"]),
    "413 on a large upload": (
        [ex("PUT", f"{ART}/large.bin", 413, "413 Request Entity Too Large", request_bytes=16 * 1048576)],
        ["413", "16.0 MiB", "client_max_body_size"]),
    "credential rejected (401)": (
        [ex("GET", "/version", 401, '{"error_code": "UNAUTHENTICATED", "message": "Invalid API key."}')],
        ["401", "rejected", "MLFLOW_TRACKING_TOKEN"]),
    "credential forbidden: key for another service id (403)": (
        [ex("GET", "/api/2.0/mlflow/experiments/search", 403, SERVICE_403)],
        ["403", "service id 'ml-platform'", "'platform'"]),
    "credential forbidden, no service id (basic-auth permission)": (
        [ex("GET", "/api/2.0/mlflow/experiments/search", 403, "Permission denied")], ["403", "not permitted"]),
    "service-id 403 seen by the MLflow client (RestException)": (
        [], ["service id 'ml-platform'"],
        "log and register with the MLflow client: RestException: PERMISSION_DENIED: API key was issued for service "
        "id 'ml-platform', this registry accepts 'platform'."),
    "anonymous access allowed on the artifact API": (
        [ex("GET", "/api/2.0/mlflow-artifacts/artifacts?path=acceptance-probe", 200, "{}", credentials="none")],
        ["anonymous requests are accepted on the artifact API"]),
    "anonymous request reached MLflow (its own 404)": (
        [ex("GET", "/get-artifact?path=MLmodel&run_uuid=0", 404,
            '{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run not found"}', credentials="none")],
        ["anonymous requests are accepted on the get-artifact route"]),
    "a credential never issued is accepted": (
        [ex("GET", "/api/2.0/mlflow/experiments/search", 200, "{}", credentials="probe")],
        ["never issued is accepted"]),
    "connection refused": (
        [ex("GET", "/version", None, error="connection refused")], ["connection refused", "host and port"]),
    "DNS failure": (
        [ex("GET", "/version", None, error="DNS lookup failed (host name does not resolve)")],
        ["DNS lookup failed", "does not resolve"]),
    "TLS verification failure": (
        [ex("GET", "/version", None, error="TLS verification failed (certificate verify failed: self-signed)")],
        ["TLS verification failed", "MLFLOW_TRACKING_SERVER_CERT_PATH"]),
    "timeout": (
        [ex("PUT", f"{ART}/large.bin", None, error="timed out")], ["timed out", "firewalls"]),
    "connection refused seen by the MLflow client": (
        [], ["connection refused"],
        "MlflowException: API request to http://h:1/api/2.0/mlflow/runs/create failed with exception "
        "HTTPConnectionPool(host='h', port=1): Max retries exceeded (Caused by NewConnectionError('Failed to "
        "establish a new connection: [Errno 111] Connection refused'))"),
    "host-header protection (403 Invalid Host header)": (
        [ex("GET", "/api/2.0/mlflow/experiments/search", 403,
            "Invalid Host header - possible DNS rebinding attack detected")],
        ["Invalid Host header", "--allowed-hosts", "MLFLOW_SERVER_ALLOWED_HOSTS"]),
    "cross-origin protection": (
        [ex("POST", "/api/2.0/mlflow/experiments/create", 403, "Cross-origin request blocked")],
        ["--cors-allowed-origins"]),
    "tracking URI points at an --artifacts-only server": (
        [ex("GET", "/api/2.0/mlflow/experiments/search", 503,
            "Endpoint disabled due to the mlflow server running in `--artifacts-only` mode.")],
        ["--artifacts-only"], None, False),
    "proxy cannot reach MLflow (502)": (
        [ex("GET", "/api/2.0/mlflow/experiments/search", 502, "Bad Gateway")], ["502", "cannot reach the MLflow"]),
    "presigned URLs at an unreachable S3 endpoint": (
        [], ["http://minio.internal:9000", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false"],
        "AssertionError: presigned download URL points at http://minio.internal:9000, which this client cannot "
        "reach (ConnectTimeout); the plain MLflow client would retry for minutes"),
    "presigned chunks fail in the MLflow client": (
        [], ["presigned URLs", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false"],
        "MlflowException: Failed to download 1 chunk(s) for MLmodel after all retries exhausted"),
    "artifact_location in S3 (not proxied)": (
        [], ["artifact_location 's3://bucket/mlartifacts/1'", "--serve-artifacts", "credentials"],
        "AssertionError: new experiment got artifact_location 's3://bucket/mlartifacts/1', not mlflow-artifacts:/..."),
    "artifact_location a server-local path": (
        [], ["artifact_location '/mlflow/mlruns/1'", "own local disk"],
        "AssertionError: new experiment got artifact_location '/mlflow/mlruns/1', not mlflow-artifacts:/..."),
}


def unpack(case: tuple) -> tuple[list[dict], list[str], str, bool]:
    """(exchanges, words the line must contain, the check's message, does the tracking API work)."""
    exchanges, needles, message, tracking_works = (*case, *(None, None, None, True)[len(case):])
    return exchanges, needles, message or "AssertionError: failed", tracking_works


@pytest.mark.parametrize("case", CASES)
def test_each_fault_class_gives_one_line_naming_its_cause(case):
    exchanges, needles, message, tracking_works = unpack(CASES[case])
    line = one_line(run_diagnosis(check("test_case", exchanges, message), tracking_works=tracking_works), *needles)
    assert ":" in line and len(line) < 700, line


def test_rules_are_all_exercised():
    """A new rule needs a case above; a rule nothing triggers is dead weight."""
    fired = set()
    original = list(diagnosis.RULES)
    for case in CASES.values():
        exchanges, _needles, message, tracking = unpack(case)
        evidence = [diagnosis.Evidence.from_dict(e) for e in exchanges] + evidence_from_message(message)
        results = Results()
        if tracking:
            c = check("ok", [TRACKING_OK], outcome="passed", criterion="endpoints")
            results.checks[c.nodeid] = c
        ctx = diagnosis.Context(results)
        for ev in evidence:
            for rule in original:
                if rule(ev, ctx):
                    fired.add(rule.__name__)
                    break
    assert fired == {rule.__name__ for rule in original}


# --- deduplication and noise ------------------------------------------------------------------

def test_many_503s_on_different_paths_are_one_finding():
    checks = [check(f"test_{i}", [ex("PUT", f"{ART}/file{i}.txt", 503, NOT_ENABLED)],
                    f"AssertionError: PUT /api/mlflow{ART}/file{i}.txt answered 503 '{NOT_ENABLED}'; expected 200")
              for i in range(5)]
    line = one_line(run_diagnosis(*checks), "--serve-artifacts", "(+4 similar requests)")
    assert line.startswith(f"PUT {ART}/file0.txt -> 503")


def test_exchange_and_message_about_the_same_request_count_once():
    message = f"AssertionError: PUT /api/mlflow{ART}/a.txt answered 503 '{NOT_ENABLED}'; expected 200"
    line = one_line(run_diagnosis(check("test_a", [ex("PUT", f"{ART}/a.txt", 503, NOT_ENABLED)], message)))
    assert "similar" not in line


def test_different_causes_give_different_lines():
    lines = run_diagnosis(
        check("test_put", [ex("PUT", f"{ART}/a.txt", 503, NOT_ENABLED)]),
        check("test_location", message="AssertionError: new experiment got artifact_location 's3://b/1', not ..."))
    assert len(lines) == 2 and "--serve-artifacts" in lines[0] and "artifact_location 's3://b/1'" in lines[1]


def test_client_without_s3_credentials_is_explained_by_the_unproxied_location():
    """--no-serve-artifacts: experiments get s3://...; the MLflow client then fails on its own S3 credentials."""
    body = '{"experiment": {"experiment_id": "1", "name": "acc-x", "artifact_location": "s3://b/mlartifacts/1"}}'
    experiment = ex("GET", "/api/2.0/mlflow/experiments/get", 200, body)
    lines = run_diagnosis(
        check("test_make_experiment", [experiment], outcome="passed"),
        check("test_log", message="WorkflowError: log and register with the MLflow client: NoCredentialsError: "
                                  "Unable to locate credentials"),
        check("test_log_again", message="WorkflowError: log and register with the MLflow client: "
                                        "NoCredentialsError: Unable to locate credentials"),
        criterion="artifacts")
    one_line(lines, "artifact_location 's3://b/mlartifacts/1'", "NoCredentialsError")


def test_file_named_presigned_is_not_a_presigned_url_problem():
    message = ("WorkflowError: MLflow client upload (proxied): HTTPError: 404 Client Error: Not Found for url: "
               f"http://h:1/api/mlflow{ART}/files/presigned.bin. Response text: Not Found")
    line = one_line(run_diagnosis(check("test_client_presigned_download", message=message)), "does not route")
    assert "presigned URLs point" not in line


def test_unexplained_failures_are_kept_once_per_message():
    lines = run_diagnosis(*(check(f"test_{i}", message="AssertionError: the large file came back changed")
                            for i in range(3)))
    one_line(lines, "test_0 (+2 more checks)", "came back changed")


def test_successful_and_refused_exchanges_of_a_failed_check_are_no_finding():
    exchanges = [TRACKING_OK, ex("GET", "/api/2.0/mlflow/experiments/search", 401, "Missing API key",
                                 credentials="none"), ex("GET", "/health", 200, "OK", credentials="none")]
    one_line(run_diagnosis(check("test_x", exchanges, "AssertionError: predictions differ")), "predictions differ")


# --- blocked criteria and unjudgeable runs ----------------------------------------------------

def test_blocked_criterion_names_the_prerequisite_its_owner_and_the_cause():
    reason = ("blocked: needs a registered model version (registration criterion), which failed: log and register "
              "with the MLflow client: HTTPError: 404 Client Error: Not Found for url: "
              f"http://h:1/api/mlflow{ART}/model/MLmodel. Response text: Not Found")
    checks = [check(f"test_{i}", outcome="skipped", message=reason, criterion="retrieval") for i in range(4)]
    line = one_line(run_diagnosis(*checks, criterion="retrieval"),
                    "not evaluated: 4 checks need a registered model version", "owned by the registration criterion",
                    "does not route /api/2.0/mlflow-artifacts/*")
    assert line.count("not evaluated") == 1


def test_blocked_by_service_id_names_it():
    reason = ("blocked: needs the run's experiment (endpoints criterion), which failed: create experiment: POST "
              f"/api/mlflow/api/2.0/mlflow/experiments/create answered 403 {SERVICE_403!r}")
    one_line(run_diagnosis(check("test_a", outcome="skipped", message=reason), tracking_works=False),
             "the run's experiment", "endpoints criterion", "service id 'ml-platform'")


def test_own_failures_and_blocked_checks_both_reported():
    reason = "blocked: needs the run's experiment (endpoints criterion), which failed: create experiment: boom"
    lines = run_diagnosis(check("test_put", [ex("PUT", f"{ART}/a.txt", 413, "too large", request_bytes=2 << 20)]),
                          check("test_b", outcome="skipped", message=reason))
    assert len(lines) == 2 and "2.0 MiB" in lines[0] and "endpoints criterion" in lines[1], lines


@pytest.mark.parametrize("error, needle", [
    ("cannot reach http://127.0.0.1:9/api/mlflow: connection refused", "nothing listens"),
    ("cannot reach http://registry.invalid/api/mlflow: DNS lookup failed (host name does not resolve)", "DNS"),
    ("cannot reach https://r.example/api/mlflow: TLS verification failed (certificate verify failed)",
     "MLFLOW_TRACKING_SERVER_CERT_PATH"),
    ("cannot reach http://10.0.0.1/api/mlflow: timed out", "firewalls"),
])
def test_unreachable_tracking_uri_gets_cause_and_fix(error, needle):
    line = explain_run_error(error)
    assert line.startswith(error) and needle in line


def test_other_run_errors_are_kept_as_they_are():
    assert explain_run_error("MLFLOW_TRACKING_URI is not set: ...") == "MLFLOW_TRACKING_URI is not set: ..."


def test_criterion_without_checks_says_so():
    assert run_diagnosis(tracking_works=False, criterion="retrieval") == [
        "no check of this criterion ran (deselected with -k/-m, or not collected)"]


def test_a_listing_that_names_the_missing_bucket_explains_500s_elsewhere():
    listing = ex("GET", "/api/2.0/mlflow-artifacts/artifacts?path=1/acc-run-raw", 404,
                 "An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation: The specified bucket "
                 "does not exist")
    canary = check("test_artifact_api_write_read_delete", [ex("PUT", f"{ART}/c.txt", 500, "Internal Server Error"),
                                                           listing], criterion="endpoints")
    upload = check("test_text_file_round_trip", [ex("PUT", f"{ART}/t.txt", 500, "Internal Server Error")])
    one_line(run_diagnosis(canary, upload), "500", "bucket does not exist")
    one_line(run_diagnosis(canary, upload, criterion="endpoints"), "bucket does not exist")


def test_storage_errors_named_in_a_message_are_explained_once():
    message = ("straight to S3 at http://127.0.0.1:9000: NoSuchBucket: An error occurred (NoSuchBucket) when calling "
               "the PutObject operation: The specified bucket does not exist")
    one_line(run_diagnosis(check("test_direct", message=message)), "bucket does not exist")
    listing = ex("GET", "/api/2.0/mlflow-artifacts/artifacts?path=x", 404, "The specified bucket does not exist")
    line = one_line(run_diagnosis(check("test_list", [listing], "AssertionError: GET /api/mlflow/api/2.0/"
                                        "mlflow-artifacts/artifacts?path=x answered 404 'The specified bucket does "
                                        "not exist'; expected 200")), "bucket does not exist")
    assert "similar" not in line


def test_blocked_line_keeps_the_cause_whole_and_leaves_the_fix_to_the_owner():
    reason = ("blocked: needs artifact uploads through the tracking URI (artifacts criterion), which failed: PUT "
              f"/api/mlflow{ART}/1mib.bin answered 413 '413 Request Entity Too Large'; expected 200")
    line = one_line(run_diagnosis(check("test_p", outcome="skipped", message=reason, criterion="performance"),
                                  criterion="performance"))
    assert "client_max_body_size, default 1 MB; ingress proxy-body-size; load-balancer limits)" in line
    assert line.endswith("(see the artifacts criterion)") and "raise it" not in line


def test_a_proxy_refusing_an_anonymous_odd_path_is_not_anonymous_access():
    refused = ex("GET", "/api/2.0/mlflow-artifacts/artifacts/%2e%2e/x", 400,
                 '{"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}', credentials="none")
    line = one_line(run_diagnosis(check("test_x", [refused], "AssertionError: something else")))
    assert "anonymous" not in line
