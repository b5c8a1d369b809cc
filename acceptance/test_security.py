"""Security: the target probed the way an attacker would, without touching what the run does not own.

Probes use names that cannot exist (the run id plus a fresh uuid) or the run's own experiment,
run and registered model; raw request targets leave this machine byte for byte
(fixtures/probes.py). Anything a probe manages to create is a finding and is deleted at once.
A finding fails its check with ``finding[<class>]: ...``; the diagnosis names the class, the
fix, related MLflow CVEs and the server's version (fixtures/security_findings.py).
"""

from __future__ import annotations

import base64
import json
import uuid
from types import SimpleNamespace

import pytest

from fixtures.probes import RawAnswer, RawClient, absent, echoes, server_paths, wrong_credential
from fixtures.security_findings import finding
from fixtures.workflows import create_registered_model, expect_ok

pytestmark = pytest.mark.criterion("security")

PROTECTED = "/api/2.0/mlflow/registered-models/get"  # + ?name=<absent>: answers only by echoing the name
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
REFUSED = (401, 403, 407)


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def raw(registry) -> RawClient:
    return RawClient(registry)


@pytest.fixture
def credentials_required(registry):
    if registry.target.auth == "none":
        pytest.skip("no credentials configured (MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD): "
                    "the registry is used anonymously, so probes for ways around its authentication do not apply")


@pytest.fixture
def owned(registry, experiment, request) -> SimpleNamespace:
    """The run's own run, registered model and model version (source runs:/<run>/model)."""

    def build() -> SimpleNamespace:
        run = expect_ok(registry.api("POST", "runs/create", json={
            "experiment_id": experiment["experiment_id"], "run_name": registry.name("security-run"),
            "tags": registry.mlflow_tags()}), "create a run for the security probes")["run"]["info"]["run_id"]
        model = create_registered_model(registry, "security-model", description="security probe target")
        version = expect_ok(registry.api("POST", "model-versions/create", json={
            "name": model, "source": f"runs:/{run}/model", "run_id": run, "tags": registry.mlflow_tags()}),
            "register a version for the security probes")["model_version"]["version"]
        return SimpleNamespace(run=run, model=model, version=str(version))

    return registry.shared("the security probes' run and model", build, owner="security",
                           requester="security")


def marker(registry) -> str:
    return absent(registry, "probe")


def protected(name: str) -> str:
    return f"{PROTECTED}?name={name}"


# --- judging answers ---------------------------------------------------------------------------

def reached_mlflow(answer: RawAnswer, name: str) -> bool:
    """The request got past authentication: a 2xx (other than health's 'OK'), or MLflow's own answer.
    A refusal (401/403) never counts, even if its page echoes the URL."""
    if answer.status is None or answer.status in REFUSED:
        return False
    if answer.ok:
        return answer.text.strip() != "OK"
    body = answer.text
    return name in body or "RESOURCE_DOES_NOT_EXIST" in body or body.lstrip().startswith('{"detail"')


def refused(answer: RawAnswer, name: str) -> bool:
    """Refused before MLflow: 401/403 (a 3xx to a login page, a 404 of an unrouted path, or a
    closed connection also keep MLflow out)."""
    if answer.status is None or answer.status in REFUSED or 300 <= answer.status < 400:
        return True
    return answer.status == 404 and not reached_mlflow(answer, name)


def expect_refused(answer: RawAnswer, name: str, kind: str, why: str) -> None:
    assert refused(answer, name), finding(kind, f"{answer.describe()}: {why}")


def expect_not_reached(answer: RawAnswer, name: str, kind: str, why: str) -> None:
    assert not reached_mlflow(answer, name), finding(kind, f"{answer.describe()}: {why}")


def resolved(answer: RawAnswer) -> bool:
    """A traversal path the server looked up or used: 2xx, 404 or 5xx (a fixed server says 400 'Invalid path')."""
    return answer.status is not None and (answer.ok or answer.status == 404 or answer.status >= 500)


# --- auth coverage -----------------------------------------------------------------------------

# One request per route family; bodies are ones MLflow would refuse, names cannot exist.
ROUTES = {
    "tracking-read": ("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}", None),
    "tracking-write": ("POST", "/api/2.0/mlflow/experiments/create", b"{}"),
    "registry-read": ("GET", "/api/2.0/mlflow/registered-models/get?name={name}", None),
    "registry-write": ("POST", "/api/2.0/mlflow/registered-models/create", b"{}"),
    "artifacts-list": ("GET", ARTIFACTS + "?path={name}", None),
    "artifacts-get": ("GET", ARTIFACTS + "/{name}/MLmodel", None),
    "artifacts-mpu-create": ("POST", "/api/2.0/mlflow-artifacts/mpu/create/{name}", b""),
    "artifacts-mpu-complete": ("POST", "/api/2.0/mlflow-artifacts/mpu/complete/{name}", b""),
    "artifacts-mpu-abort": ("POST", "/api/2.0/mlflow-artifacts/mpu/abort/{name}", b""),
    "artifacts-presigned": ("GET", "/api/2.0/mlflow-artifacts/presigned/{name}/MLmodel", None),
    "ajax-api-registry": ("GET", "/ajax-api/2.0/mlflow/registered-models/get?name={name}", None),
    "ajax-api-artifacts": ("GET", "/ajax-api/2.0/mlflow-artifacts/artifacts?path={name}", None),
    "ajax-api-jobs": ("GET", "/ajax-api/3.0/jobs/{name}", None),
    "otel-traces": ("POST", "/v1/traces", b""),
    "get-artifact": ("GET", "/get-artifact?path=MLmodel&run_uuid=00000000000000000000000000000000", None),
    "model-versions-get-artifact": ("GET", "/model-versions/get-artifact?path=MLmodel&name={name}&version=1", None),
    "graphql": ("POST", "/graphql", b'{"query": "{ __typename }"}'),
    "version": ("GET", "/version", None),
    "server-info": ("GET", "/api/3.0/mlflow/server-info", None),
    "ui-root": ("GET", "/", None),
}


@pytest.mark.parametrize("family", ROUTES)
def test_route_family_refuses_anonymous_requests(registry, raw, credentials_required, family):
    """Without credentials every route family (tracking, registry, artifacts incl. mpu/* and presigned/*,
    ajax-api, jobs, traces, get-artifact, model-versions/get-artifact, graphql, version, server-info, UI)
    MUST be refused (401/403); only health may be open."""
    method, path, body = ROUTES[family]
    name, headers = marker(registry), {"Content-Type": "application/json"} if body else {}
    answer = raw.send(method, path.format(name=name), body=body, headers=headers)
    expect_refused(answer, name, "auth-gap", f"the {family} route answered without credentials")


def test_anonymous_artifact_write_is_refused(registry, raw, credentials_required, artifact_root):
    """An anonymous PUT and DELETE on the artifact API (inside the run's own artifact root) MUST be refused."""
    name = marker(registry)
    path = f"{ARTIFACTS}/{artifact_root}/{name}.txt"
    put = raw.send("PUT", path, body=b"anonymous write probe",
                   headers={"Content-Type": "application/octet-stream"})
    if put.ok:  # written: remove it with the run's own credentials before reporting
        registry.http.delete(path)
    expect_refused(put, name, "auth-gap", "anonymous PUT on the artifact API was accepted")
    expect_refused(raw.send("DELETE", path), name, "auth-gap", "anonymous DELETE on the artifact API was accepted")


# --- malformed and misplaced credentials -------------------------------------------------------

def malformed_credentials(registry) -> dict[str, dict[str, str]]:
    """Credentials a strict gateway refuses, in the target's scheme; all but the scheme are wrong."""
    probe = f"acceptance-wrong-{uuid.uuid4().hex}"
    if registry.target.auth == "basic":
        wrong = base64.b64encode(f"{registry.target.username}:{probe}".encode()).decode()
        scheme, other = "Basic", f"Bearer {probe}"
    else:
        wrong = probe
        scheme, other = "Bearer", "Basic " + base64.b64encode(f"acceptance:{probe}".encode()).decode()
    return {"empty-credential": {"Authorization": f"{scheme} "}, "scheme-only": {"Authorization": scheme},
            "lower-case-scheme": {"Authorization": f"{scheme.lower()} {wrong}"},
            "upper-case-scheme": {"Authorization": f"{scheme.upper()} {wrong}"},
            "wrong-scheme": {"Authorization": other}, "token-scheme": {"Authorization": f"Token {probe}"}}


@pytest.mark.parametrize("kind", ["empty-credential", "scheme-only", "lower-case-scheme", "upper-case-scheme",
                                  "wrong-scheme", "token-scheme"])
def test_malformed_credential_is_refused(registry, raw, credentials_required, kind):
    """A malformed credential (empty, scheme only, scheme in another case, Basic where Bearer is expected,
    Token) MUST be refused."""
    name = marker(registry)
    answer = raw.send("GET", protected(name), auth=malformed_credentials(registry)[kind], note=kind)
    expect_refused(answer, name, "weak-credential", f"{kind} was accepted")


@pytest.mark.parametrize("param", ["access_token", "token", "api_key"])
def test_credential_in_query_string_is_refused(registry, raw, credentials_required, param):
    """The valid token in the query string (no Authorization header) MUST be refused: query strings end
    up in logs."""
    if registry.target.auth != "bearer":
        pytest.skip("the target uses basic credentials; MLflow's auth app reads them from the Authorization "
                    "header only")
    name = marker(registry)
    answer = raw.send("GET", f"{protected(name)}&{param}={registry.target.token}")
    expect_refused(answer, name, "weak-credential", f"a token in ?{param}= was accepted")


# --- identity and routing headers without credentials -------------------------------------------

FORGED = {
    "x-forwarded-user": {"X-Forwarded-User": "admin"},
    "x-remote-user": {"X-Remote-User": "admin"},
    "remote-user": {"Remote-User": "admin"},
    "x-forwarded-for-loopback": {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"},
    "x-original-url-health": {"X-Original-URL": "{prefix}/health"},
    "x-rewrite-url-health": {"X-Rewrite-URL": "{prefix}/health"},
    "x-http-method-override": {"X-HTTP-Method-Override": "OPTIONS"},
    "x-http-method": {"X-HTTP-Method": "OPTIONS"},
    "x-method-override": {"X-Method-Override": "OPTIONS"},
}


@pytest.mark.parametrize("header", FORGED)
def test_forged_identity_header_is_refused(registry, raw, credentials_required, header):
    """A protected request without credentials but with a forged identity, URL or method header MUST be refused."""
    name = marker(registry)
    headers = {k: v.format(prefix=raw.prefix) for k, v in FORGED[header].items()}
    answer = raw.send("GET", protected(name), headers=headers, note=header)
    expect_refused(answer, name, "identity-header", f"{header} got the request through")


@pytest.mark.parametrize("header", ["X-Original-URL", "X-Rewrite-URL"])
def test_health_cannot_be_rewritten_to_a_protected_route(registry, raw, credentials_required, header):
    """GET /health with a rewrite header naming a protected route MUST NOT reach that route."""
    name = marker(registry)
    answer = raw.send("GET", "/health", headers={header: raw.under_prefix(protected(name))}, note=header)
    expect_not_reached(answer, name, "identity-header", f"{header} rewrote /health to a protected route")


# --- path normalisation: anonymous requests that spell a protected route another way ------------

BYPASSES = {
    "double-slash": "{P}//api/2.0/mlflow/registered-models/get?name={name}",
    "double-slash-before-prefix": "/{P}/api/2.0/mlflow/registered-models/get?name={name}",
    "dot-segment": "{P}/./api/2.0/mlflow/registered-models/get?name={name}",
    "health-dot-dot": "{P}/health/../api/2.0/mlflow/registered-models/get?name={name}",
    "health-encoded-dots": "{P}/health/%2e%2e/api/2.0/mlflow/registered-models/get?name={name}",
    "health-encoded-dots-upper": "{P}/health/%2E%2E/api/2.0/mlflow/registered-models/get?name={name}",
    "health-encoded-slash": "{P}/health/..%2fapi/2.0/mlflow/registered-models/get?name={name}",
    "health-all-encoded": "{P}/health%2f..%2fapi%2f2.0%2fmlflow%2fregistered-models%2fget?name={name}",
    "health-double-encoded": "{P}/health/%252e%252e/api/2.0/mlflow/registered-models/get?name={name}",
    "double-encoded-slashes": "{P}/api%252f2.0%252fmlflow%252fregistered-models%252fget?name={name}",
    "encoded-slashes": "{P}/api%2f2.0%2fmlflow%2fregistered-models%2fget?name={name}",
    "encoded-letters": "{P}/%61pi/2.0/mlflow/registered-models/get?name={name}",
    "mixed-case-route": "{P}/API/2.0/mlflow/registered-models/get?name={name}",
    "mixed-case-health": "{P}/Health/../api/2.0/mlflow/registered-models/get?name={name}",
    "mixed-case-prefix": "{P_UPPER}/api/2.0/mlflow/registered-models/get?name={name}",
    "trailing-slash": "{P}/api/2.0/mlflow/registered-models/get/?name={name}",
    "semicolon-parameter": "{P}/api/2.0/mlflow/registered-models/get;x=y?name={name}",
    "health-semicolon": "{P}/health;/../api/2.0/mlflow/registered-models/get?name={name}",
    "health-dot-dot-semicolon": "{P}/health/..;/api/2.0/mlflow/registered-models/get?name={name}",
    "backslash": "{P}/health\\..\\api/2.0/mlflow/registered-models/get?name={name}",
    "prefix-dot-dot": "{P}/../{P_LAST}/api/2.0/mlflow/registered-models/get?name={name}",
    "absolute-form": "{ABS}/health/../api/2.0/mlflow/registered-models/get?name={name}",
    "absolute-form-plain": "{ABS}/api/2.0/mlflow/registered-models/get?name={name}",
    "dot-dot-in-query": "{P}/api/2.0/mlflow/registered-models/get?name={name}&acc=/../../../../../../../../health",
    "dot-dot-in-fragment": "{P}/api/2.0/mlflow/registered-models/get?name={name}#/../../../../../../../../health",
}


@pytest.mark.parametrize("spelling", BYPASSES)
def test_path_spelling_does_not_bypass_authentication(registry, raw, credentials_required, spelling):
    """A protected route spelled another way (//, ./, ../, %2e, %2f, double encoding, case, trailing /, ;,
    backslash, absolute form, dots after ? or #) MUST NOT answer without credentials."""
    name = marker(registry)
    target = BYPASSES[spelling].format(P=raw.prefix, P_UPPER=raw.prefix.upper(), name=name,
                                       P_LAST=raw.prefix.rsplit("/", 1)[-1],
                                       ABS=f"{raw.scheme}://{raw.netloc}{raw.prefix}")
    answer = raw.send("GET", target, raw_target=target)
    expect_not_reached(answer, name, "path-normalisation", f"{spelling} reached MLflow without credentials")


# --- artifact path traversal with valid credentials ---------------------------------------------

# {root}: the run's own artifact root; {u}: a name that cannot exist. Reads and deletes climb
# out of the root towards names that cannot exist; writes climb back into the run's own root.
ESCAPES = {
    "dot-dot": "{root}/../../../../{u}",
    "encoded-slash": "{root}/..%2f..%2f..%2f..%2f{u}",
    "encoded-dots": "{root}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{u}",
    "double-encoded": "{root}/%252e%252e%252f%252e%252e%252f%252e%252e%252f%252e%252e%252f{u}",
    "absolute": "/tmp/{u}",
    "encoded-absolute": "%2ftmp%2f{u}",
}
WRITES = {
    "dot-dot": "{root}/{u}-dir/../{u}.txt",
    "encoded-slash": "{root}/{u}-dir/..%2f{u}.txt",
    "encoded-dots": "{root}/{u}-dir/%2e%2e/{u}.txt",
    "double-encoded": "{root}/{u}-dir/%252e%252e%252f{u}.txt",
}
QUERY_ESCAPES = {
    "dot-dot": "../../../../{u}",
    "encoded-slash": "..%2f..%2f..%2f..%2f{u}",
    "double-encoded": "%252e%252e%252f%252e%252e%252f{u}",
    "absolute": "/tmp/{u}",
}


def traversal_verdict(answer: RawAnswer, what: str) -> None:
    if answer.status == 503 or (answer.status == 404 and "error_code" not in answer.text):
        # 503: artifact serving disabled; a non-MLflow 404: the route is not served. Either way the
        # path was never looked up, so traversal cannot be judged (the artifacts criterion says why).
        pytest.skip(f"cannot probe traversal: {answer.describe()} (the artifact API is not served)")
    assert not resolved(answer), finding("artifact-traversal", f"{answer.describe()}: {what} was resolved "
                                         "instead of refused with 400 'Invalid path'")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("escape", ESCAPES)
def test_artifact_path_traversal_is_refused(registry, raw, artifact_root, method, escape):
    """GET and DELETE of an artifact path that climbs out of the artifact root MUST be refused with 400
    'Invalid path'."""
    path = "/" + ESCAPES[escape].format(root=artifact_root, u=marker(registry)).lstrip("/")
    target = ARTIFACTS + ("/" + path if escape == "absolute" else path)
    traversal_verdict(raw.send(method, target, auth=True), f"{method} of a path outside the artifact root")


@pytest.mark.parametrize("escape", WRITES)
def test_artifact_write_traversal_is_refused(registry, raw, artifact_root, escape):
    """A PUT whose artifact path contains '..' (raw, %2f, %2e, double-encoded) MUST be refused with 400
    (the probes climb back into the run's own root, so even a vulnerable server writes only there)."""
    u = marker(registry)
    path = f"{ARTIFACTS}/{WRITES[escape].format(root=artifact_root, u=u)}"
    answer = raw.send("PUT", path, auth=True, body=b"probe")
    if answer.ok:  # it wrote: remove the file through the same path and the resolved one
        raw.send("DELETE", path, auth=True)
        registry.http.delete(f"{ARTIFACTS}/{artifact_root}/{u}.txt")
    traversal_verdict(answer, "a PUT through '..'")


@pytest.mark.parametrize("escape", QUERY_ESCAPES)
@pytest.mark.parametrize("endpoint", ["artifacts-list", "get-artifact", "model-versions-get-artifact",
                                      "tracking-artifacts-list"])
def test_artifact_query_path_traversal_is_refused(registry, raw, owned, endpoint, escape):
    """List, get-artifact and model-versions/get-artifact with a path climbing out of the root MUST be
    refused with 400."""
    path = QUERY_ESCAPES[escape].format(u=marker(registry))
    target = {"artifacts-list": f"{ARTIFACTS}?path={path}",
              "get-artifact": f"/get-artifact?path={path}&run_uuid={owned.run}",
              "model-versions-get-artifact": (f"/model-versions/get-artifact?path={path}&name={owned.model}"
                                              f"&version={owned.version}"),
              "tracking-artifacts-list": f"/api/2.0/mlflow/artifacts/list?run_id={owned.run}&path={path}"}[endpoint]
    traversal_verdict(raw.send("GET", target, auth=True), f"{endpoint} of a path outside the artifact root")


def test_presigned_url_traversal_is_refused(registry, raw, artifact_root):
    """A presigned URL for a path climbing out of the artifact root MUST be refused with 400."""
    target = f"/api/2.0/mlflow-artifacts/presigned/{artifact_root}/..%2f..%2f..%2f..%2f{marker(registry)}"
    traversal_verdict(raw.send("GET", target, auth=True), "a presigned URL outside the artifact root")


# --- model-version sources and experiment artifact locations ------------------------------------

SOURCES = {
    "file-etc": ("file:///etc/", False, False),
    "file-etc-with-run-id": ("file:///etc/", True, False),
    "proc-self-root": ("//proc/self/root", False, False),
    "cloud-metadata": ("http://169.254.169.254/latest/meta-data/", False, False),
    "mlflow-artifacts-dot-dot": ("mlflow-artifacts:/../../{u}", False, False),
    "runs-dot-dot": ("runs:/{run}/../../{u}", True, False),
    "relative-dot-dot": ("{u}/../../../etc", False, False),
    "prompt-tag-file": ("file:///etc/", False, True),
}


@pytest.mark.parametrize("source", SOURCES)
def test_model_version_source_outside_the_store_is_rejected(registry, owned, source):
    """A model version of the run's own model whose source is a local file, /proc, cloud metadata or climbs
    with '..' (also with run_id, or tagged as a prompt) MUST be rejected."""
    template, with_run, prompt_tag = SOURCES[source]
    tags = registry.mlflow_tags() + ([{"key": "mlflow.prompt.is_prompt", "value": "true"}] if prompt_tag else [])
    body = {"name": owned.model, "source": template.format(u=marker(registry), run=owned.run), "tags": tags,
            **({"run_id": owned.run} if with_run else {})}
    response = registry.api("POST", "model-versions/create", json=body)
    if response.status_code == 200:  # accepted: delete the version before reporting
        version = response.json()["model_version"]["version"]
        registry.api("DELETE", "model-versions/delete", json={"name": owned.model, "version": version})
    assert response.status_code != 200, finding(
        "source-traversal", f"POST model-versions/create source={body['source']!r} -> 200: accepted (deleted again)")


LOCATIONS = {
    "file": "file:///tmp/{u}",
    "http-fragment": "http:///#/../../../../{u}",
    "mlflow-artifacts-dot-dot": "mlflow-artifacts:/../{u}",
    "plain-path": "/tmp/{u}",
}


@pytest.mark.parametrize("location", LOCATIONS)
def test_experiment_artifact_location_outside_the_store_is_rejected(registry, location):
    """An experiment whose artifact_location is a local path, a fragment trick or climbs with '..' MUST be
    rejected."""
    name = registry.name(f"security-location-{uuid.uuid4().hex[:8]}")
    value = LOCATIONS[location].format(u=marker(registry))
    registry.ledger.record("experiment", name)
    response = registry.api("POST", "experiments/create",
                            json={"name": name, "artifact_location": value, "tags": registry.mlflow_tags()})
    if response.status_code == 200:  # accepted: delete the experiment before reporting
        registry.api("POST", "experiments/delete", json={"experiment_id": response.json()["experiment_id"]})
    assert response.status_code != 200, finding(
        "artifact-location", f"POST experiments/create artifact_location={value!r} -> 200: accepted (deleted again)")


# --- host and origin --------------------------------------------------------------------------

HOSTS = {"foreign": "{u}.invalid", "private-range-lookalike": "10.{u}.invalid",
         "localhost-lookalike": "localhost.{u}.invalid"}


@pytest.mark.parametrize("host", HOSTS)
def test_foreign_host_header_is_refused(registry, raw, host):
    """A request with valid credentials but a foreign Host header (DNS rebinding) MUST be refused."""
    name = marker(registry)
    value = HOSTS[host].format(u=uuid.uuid4().hex[:12])
    answer = raw.send("GET", protected(name), auth=True, host=value, note=f"Host: {value}")
    expect_not_reached(answer, name, "dns-rebinding", f"Host {value} was served")


@pytest.mark.parametrize("origin", ["foreign", "null"])
def test_cross_origin_write_is_refused(registry, raw, origin):
    """A state-changing request with valid credentials from a foreign Origin (or Origin: null) MUST be refused."""
    name = marker(registry)
    value = f"http://{uuid.uuid4().hex[:12]}.invalid" if origin == "foreign" else "null"
    answer = raw.send("DELETE", "/api/2.0/mlflow/registered-models/delete", auth=True,
                      body=json.dumps({"name": name}).encode(), note=f"Origin: {value}",
                      headers={"Origin": value, "Content-Type": "application/json"})
    expect_not_reached(answer, name, "cross-origin", f"a DELETE from Origin {value} reached MLflow")


@pytest.mark.parametrize("request_kind", ["preflight", "credentialed-get"])
def test_cors_never_allows_any_origin_with_credentials(registry, raw, request_kind):
    """CORS answers MUST NOT allow a foreign origin (or '*') together with credentials."""
    origin = f"http://{uuid.uuid4().hex[:12]}.invalid"
    preflight = request_kind == "preflight"
    headers = {"Origin": origin, **({"Access-Control-Request-Method": "GET",
                                     "Access-Control-Request-Headers": "authorization"} if preflight else {})}
    answer = raw.send("OPTIONS" if preflight else "GET", protected(marker(registry)), auth=not preflight,
                      headers=headers, note=f"Origin: {origin}")
    allowed = answer.header("Access-Control-Allow-Origin")
    with_credentials = (answer.header("Access-Control-Allow-Credentials") or "").lower() == "true"
    assert not (with_credentials and allowed in ("*", origin)), finding(
        "cross-origin", f"{answer.describe()}: Access-Control-Allow-Origin {allowed!r} with credentials")


# --- leaks -----------------------------------------------------------------------------------

def test_refusals_and_errors_do_not_echo_credentials(registry, raw, artifact_root):
    """No error body, redirect Location or response header MUST echo the credential that was sent (valid or
    wrong)."""
    wrong, probe = wrong_credential(registry)
    name = marker(registry)
    answers = [raw.send("GET", protected(name), auth=wrong)]
    for method, path in (("GET", protected(name)), ("GET", f"/api/2.0/mlflow/{name}"), ("DELETE", "/version"),
                         ("GET", "/api/2.0/mlflow/registered-models//get?name=" + name),
                         ("GET", f"{ARTIFACTS}/{artifact_root}/../{name}")):
        answers.append(raw.send(method, path, auth=True))
    secrets = [probe, *registry.target.secrets()]
    leaked = [f"{a.describe()} echoes it in {', '.join(where)}" for a in answers if (where := echoes(a, secrets))]
    assert not leaked, finding("credential-leak", "; ".join(leaked))


def test_server_errors_do_not_reveal_server_paths(registry, raw, owned, artifact_root):
    """5xx bodies MUST NOT reveal server file paths, backend-store URIs or stack traces."""
    name = marker(registry)
    answers = [raw.send("GET", f"{ARTIFACTS}/{artifact_root}/{name}.bin", auth=True),
               raw.send("GET", f"/get-artifact?path={name}&run_uuid={owned.run}", auth=True),
               raw.send("GET", f"/model-versions/get-artifact?path={name}&name={owned.model}"
                               f"&version={owned.version}", auth=True),
               raw.send("POST", "/graphql", auth=True, body=b"{", headers={"Content-Type": "application/json"})]
    revealed = [f"{a.method} {a.target} -> {a.status} reveals {', '.join(found)}" for a in answers
                if a.status is not None and a.status >= 500 and (found := server_paths(a.text))]
    assert not revealed, finding("path-disclosure", "; ".join(revealed))
