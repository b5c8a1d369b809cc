"""Security: the target probed the way an attacker would, without touching what the run does not own.

Probes use names that cannot exist (the run id plus a fresh uuid) or the run's own experiments,
run and registered model; raw request targets leave this machine byte for byte
(fixtures/probes.py). Anything a probe manages to create is deleted at once.

A probe that finds something records a finding (fixtures/findings.py) with a severity and a
proof level: *demonstrated* when the harmful effect was observed (an anonymous request served,
a canary read from outside the requested root, a credential echoed), *indicated* when only the
answer is suspicious. The check fails only on failing findings (demonstrated, at or above
``--fail-on``); the others are warnings in the report. Judging functions: fixtures/judges.py.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from fixtures.judges import (listing_names, names_location, not_served, rate_limited, reached_mlflow,
                             traversal_verdict)
from fixtures.probes import RawAnswer, RawClient, absent, echoes, server_paths, wrong_credential
from fixtures.workflows import create_experiment, create_registered_model, expect_ok

pytestmark = pytest.mark.criterion("security")

PROTECTED = "/api/2.0/mlflow/registered-models/get"  # + ?name=<absent>: answers only by echoing the name
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def raw(registry) -> RawClient:
    return RawClient(registry)


@pytest.fixture
def credentials_required(registry, request):
    if registry.target.auth == "none":
        pytest.skip("no credentials configured (MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD): "
                    "the registry is used anonymously, so probes for ways around its authentication do not apply")
    if request.config.getoption("expect_anonymous"):
        pytest.skip("--expect-anonymous: the registry is meant to be open, so anonymous access is not a gap")


@pytest.fixture
def owned(registry, experiment) -> SimpleNamespace:
    """The run's own run, registered model and model version (source runs:/<run>/model)."""

    def build() -> SimpleNamespace:
        run = expect_ok(registry.api("POST", "runs/create", json={
            "experiment_id": experiment["experiment_id"], "run_name": registry.name("security-run"),
            "tags": registry.mlflow_tags()}), "create a run for the security probes")["run"]["info"]
        model = create_registered_model(registry, "security-model", description="security probe target")
        version = expect_ok(registry.api("POST", "model-versions/create", json={
            "name": model, "source": f"runs:/{run['run_id']}/model", "run_id": run["run_id"],
            "tags": registry.mlflow_tags()}), "register a version for the security probes")["model_version"]
        uri = expect_ok(registry.api("GET", "model-versions/get-download-uri", params={
            "name": model, "version": version["version"]}), "read the version's download URI").get("artifact_uri", "")
        return SimpleNamespace(run=run["run_id"], run_root=store_path(run.get("artifact_uri", "")), model=model,
                               version=str(version["version"]), version_root=store_path(uri))

    return registry.shared("the security probes' run and model", build, owner="security", requester="security")


@dataclass
class Canary:
    """A file the run owns in a second experiment: a probe that returns it from a path under the
    run's first experiment has escaped the root it asked for."""
    directory: str  # artifact-store path of the canary's folder
    name: str
    content: bytes

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.name}"


@pytest.fixture
def canary(registry) -> Canary:
    def build() -> Canary:
        other = create_experiment(registry, "security-canary")
        root = store_path(other.get("artifact_location", ""))
        if root is None:
            pytest.skip(f"experiments get artifact_location {other.get('artifact_location')!r}, not served through "
                        "the artifact API: traversal canaries cannot be placed")
        placed = Canary(f"{root}/{registry.run_id}-canary", f"canary-{uuid.uuid4().hex[:12]}.txt",
                        f"acceptance canary {uuid.uuid4().hex}".encode())
        stored = registry.http.put(f"{ARTIFACTS}/{placed.path}", data=placed.content)
        if stored.status_code != 200:
            pytest.skip(f"cannot place a traversal canary: PUT {placed.path} answered {stored.status_code} "
                        "(the artifacts criterion judges the artifact API)")
        return placed

    return registry.shared("the traversal canary", build, owner="security", requester="security")


def store_path(uri: str) -> str | None:
    """The artifact-store path of an ``mlflow-artifacts:`` URI (None for anything else)."""
    if not uri.startswith("mlflow-artifacts:"):
        return None
    path = uri.split(":", 1)[1]
    if path.startswith("//"):  # mlflow-artifacts://host:port/path
        path = "/" + path[2:].split("/", 1)[-1]
    return path.strip("/")


def marker(registry) -> str:
    return absent(registry, "probe")


def protected(name: str) -> str:
    return f"{PROTECTED}?name={name}"


def front(registry) -> str:
    """What stands between a browser and the registry: it sets the weight of browser-borne attacks."""
    return {"bearer": "a Bearer credential is required", "basic": "Basic credentials are required",
            "none": "no credentials are required (open registry)"}[registry.target.auth]


def judge_rate_limit(answer: RawAnswer) -> None:
    if rate_limited(answer):
        pytest.skip(f"rate limited: {answer.describe()} twice; back off and run again")


# --- auth coverage -----------------------------------------------------------------------------

# One request per route family; bodies are ones MLflow would refuse, names cannot exist.
# Severity of an anonymous answer: data and writes are high; the version string and server-info
# (public by design in MLflow's auth app) only describe the server.
ROUTES = {
    "tracking-read": ("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}", None, "high"),
    "tracking-write": ("POST", "/api/2.0/mlflow/experiments/create", b"{}", "high"),
    "registry-read": ("GET", "/api/2.0/mlflow/registered-models/get?name={name}", None, "high"),
    "registry-write": ("POST", "/api/2.0/mlflow/registered-models/create", b"{}", "high"),
    "artifacts-list": ("GET", ARTIFACTS + "?path={name}", None, "high"),
    "artifacts-get": ("GET", ARTIFACTS + "/{name}/MLmodel", None, "high"),
    "artifacts-mpu-create": ("POST", "/api/2.0/mlflow-artifacts/mpu/create/{name}", b"", "high"),
    "artifacts-mpu-complete": ("POST", "/api/2.0/mlflow-artifacts/mpu/complete/{name}", b"", "high"),
    "artifacts-mpu-abort": ("POST", "/api/2.0/mlflow-artifacts/mpu/abort/{name}", b"", "high"),
    "artifacts-presigned": ("GET", "/api/2.0/mlflow-artifacts/presigned/{name}/MLmodel", None, "high"),
    "ajax-api-registry": ("GET", "/ajax-api/2.0/mlflow/registered-models/get?name={name}", None, "high"),
    "ajax-api-artifacts": ("GET", "/ajax-api/2.0/mlflow-artifacts/artifacts?path={name}", None, "high"),
    "ajax-api-jobs": ("GET", "/ajax-api/3.0/jobs/{name}", None, "high"),
    "otel-traces": ("POST", "/v1/traces", b"", "high"),
    "get-artifact": ("GET", "/get-artifact?path=MLmodel&run_uuid=00000000000000000000000000000000", None, "high"),
    "model-versions-get-artifact": ("GET", "/model-versions/get-artifact?path=MLmodel&name={name}&version=1", None,
                                    "high"),
    "graphql": ("POST", "/graphql", b'{"query": "{ __typename }"}', "high"),
    "version": ("GET", "/version", None, "low"),
    "server-info": ("GET", "/api/3.0/mlflow/server-info", None, "info"),
    "ui-root": ("GET", "/", None, "info"),
}


@pytest.mark.parametrize("family", ROUTES)
def test_route_family_refuses_anonymous_requests(registry, raw, findings, credentials_required, family):
    """Without credentials every route family (tracking, registry, artifacts incl. mpu/* and presigned/*,
    ajax-api, jobs, traces, get-artifact, model-versions/get-artifact, graphql, version, server-info, UI)
    MUST be refused; only health may be open."""
    method, path, body, severity = ROUTES[family]
    name = marker(registry)
    answer = raw.send(method, path.format(name=name), body=body,
                      headers={"Content-Type": "application/json"} if body else {})
    judge_rate_limit(answer)
    if reached_mlflow(answer, name):
        findings.add("auth-gap", family, severity=severity, proof="demonstrated",
                     evidence=f"{answer.describe()}: the {family} route answered without credentials")


def test_anonymous_artifact_write_is_refused(registry, raw, findings, credentials_required, artifact_root):
    """An anonymous PUT and DELETE on the artifact API (inside the run's own artifact root) MUST be refused."""
    name = marker(registry)
    path = f"{ARTIFACTS}/{artifact_root}/{name}.txt"
    put = raw.send("PUT", path, body=b"anonymous write probe", headers={"Content-Type": "application/octet-stream"})
    if put.ok:  # written: remove it with the run's own credentials before reporting
        registry.http.delete(path)
        findings.add("auth-gap", "anonymous-artifact-put", severity="critical", proof="demonstrated",
                     evidence=f"{put.describe()}: an anonymous PUT stored a file")
    delete = raw.send("DELETE", path)
    if reached_mlflow(delete, name) or delete.ok:
        findings.add("auth-gap", "anonymous-artifact-delete", severity="high", proof="demonstrated",
                     evidence=f"{delete.describe()}: an anonymous DELETE reached the artifact API")


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
def test_malformed_credential_is_refused(registry, raw, findings, credentials_required, kind):
    """A malformed credential (empty, scheme only, scheme in another case, Basic where Bearer is expected,
    Token) MUST be refused (401/403, or 400 as RFC 6750 allows for a malformed header)."""
    name = marker(registry)
    answer = raw.send("GET", protected(name), auth=malformed_credentials(registry)[kind], note=kind)
    judge_rate_limit(answer)
    if reached_mlflow(answer, name):
        findings.add("weak-credential", kind, severity="high", proof="demonstrated",
                     evidence=f"{answer.describe()}: {kind} was accepted")


@pytest.mark.parametrize("param", ["access_token", "token", "api_key"])
def test_credential_in_query_string_is_refused(registry, raw, findings, credentials_required, param):
    """The valid token in the query string (no Authorization header) MUST be refused: query strings end
    up in logs."""
    if registry.target.auth != "bearer":
        pytest.skip("the target uses basic credentials; MLflow's auth app reads them from the Authorization "
                    "header only")
    name = marker(registry)
    answer = raw.send("GET", f"{protected(name)}&{param}={registry.target.token}")
    judge_rate_limit(answer)
    if reached_mlflow(answer, name):
        findings.add("weak-credential", f"query-{param}", severity="high", proof="demonstrated",
                     evidence=f"{answer.describe()}: a token in ?{param}= was accepted")


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
def test_forged_identity_header_is_refused(registry, raw, findings, credentials_required, header):
    """A protected request without credentials but with a forged identity, URL or method header MUST be refused."""
    name = marker(registry)
    headers = {k: v.format(prefix=raw.prefix) for k, v in FORGED[header].items()}
    answer = raw.send("GET", protected(name), headers=headers, note=header)
    judge_rate_limit(answer)
    if reached_mlflow(answer, name):
        findings.add("identity-header", header, severity="high", proof="demonstrated",
                     evidence=f"{answer.describe()}: {header} got the request through without credentials")


@pytest.mark.parametrize("header", ["X-Original-URL", "X-Rewrite-URL"])
def test_health_cannot_be_rewritten_to_a_protected_route(registry, raw, findings, credentials_required, header):
    """GET /health with a rewrite header naming a protected route MUST NOT reach that route."""
    name = marker(registry)
    answer = raw.send("GET", "/health", headers={header: raw.under_prefix(protected(name))}, note=header)
    if reached_mlflow(answer, name):
        findings.add("identity-header", f"rewrite-{header.lower()}", severity="high", proof="demonstrated",
                     evidence=f"{answer.describe()}: {header} rewrote /health to a protected route")


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
def test_path_spelling_does_not_bypass_authentication(registry, raw, findings, credentials_required, spelling):
    """A protected route spelled another way (//, ./, ../, %2e, %2f, double encoding, case, trailing /, ;,
    backslash, absolute form, dots after ? or #) MUST NOT answer without credentials."""
    name = marker(registry)
    target = BYPASSES[spelling].format(P=raw.prefix, P_UPPER=raw.prefix.upper(), name=name,
                                       P_LAST=raw.prefix.rsplit("/", 1)[-1],
                                       ABS=f"{raw.scheme}://{raw.netloc}{raw.prefix}")
    answer = raw.send("GET", target, raw_target=target)
    judge_rate_limit(answer)
    if reached_mlflow(answer, name):
        findings.add("path-normalisation", spelling, severity="high", proof="demonstrated",
                     evidence=f"{answer.describe()}: {spelling} reached MLflow without credentials")


# --- artifact path traversal with valid credentials ---------------------------------------------
#
# The run owns two places in the artifact store: its raw root under its first experiment, and a
# canary file under a second experiment. Each probe asks for a path under the first that climbs,
# spelled one way or another, to the canary. Proof follows what came back:
# - the canary, through the query string (which no proxy normalises): the registry itself resolved
#   the traversal outside the requested root — demonstrated;
# - the canary, through a path that RFC 3986 normalisation already resolves to it: the client named
#   the canary's place; a normalising proxy in front does this by the standard — no finding;
# - the canary through an encoded spelling (%2f, double encoding), or any other answer than a
#   refusal: indicated only (the path was looked up, nothing proves it left the root).

UP = {  # one level up, spelled each way
    "dot-dot": "../",
    "encoded-slash": "..%2f",
    "encoded-dots": "%2e%2e/",
    "double-encoded": "%252e%252e%252f",
}
ABSOLUTE = {"absolute": "/tmp/{u}", "encoded-absolute": "%2ftmp%2f{u}"}


def climb(root: str, spelling: str) -> str:
    """From ``root`` up to the artifact store's root, spelled ``spelling``."""
    return UP[spelling] * len(root.strip("/").split("/"))


def judge_traversal(registry, findings, probe: str, answer: RawAnswer, *, escaped: bool, named: bool,
                    via_query: bool, control: RawAnswer | None = None, lookup: str = "low") -> None:
    """Record what a traversal probe proved (fixtures/judges.py traversal_verdict)."""
    judge_rate_limit(answer)
    if not answer.ok and not_served(answer):
        pytest.skip(f"cannot probe traversal: {answer.describe()} (the artifact API is not served)")
    verdict = traversal_verdict(answer, escaped=escaped, named=named, via_query=via_query, control=control,
                                lookup=lookup)
    if verdict is not None:
        findings.add("artifact-traversal", probe, severity=verdict.severity, proof=verdict.proof,
                     evidence=f"{answer.describe()}: {verdict.why}", context=_server(registry))


def control_probe(raw, artifact_root: str, canary: "Canary", spelling: str) -> RawAnswer:
    """The same climb as a listing's query parameter: what MLflow itself does with it."""
    return raw.send("GET", f"{ARTIFACTS}?path={artifact_root}/{climb(artifact_root, spelling)}{canary.directory}",
                    auth=True, note="control: the same climb in a query parameter")


def _server(registry) -> str:
    return f"server reports MLflow {registry.server_version or 'unknown'}"


@pytest.mark.parametrize("spelling", UP)
def test_artifact_read_traversal_is_refused(registry, raw, findings, artifact_root, canary, spelling):
    """GET of an artifact path that climbs out of the run's root MUST NOT return a file from outside it
    (a fixed MLflow refuses with 400 'Invalid path')."""
    target = f"{ARTIFACTS}/{artifact_root}/{climb(artifact_root, spelling)}{canary.path}"
    answer = raw.send("GET", target, auth=True)
    escaped = answer.ok and answer.body == canary.content
    judge_traversal(registry, findings, f"get-{spelling}", answer, escaped=escaped,
                    named=names_location(target, canary.path), via_query=False,
                    control=control_probe(raw, artifact_root, canary, spelling) if escaped else None)


@pytest.mark.parametrize("spelling", UP)
def test_artifact_delete_traversal_is_refused(registry, raw, findings, artifact_root, canary, spelling):
    """DELETE of an artifact path that climbs out of the run's root MUST NOT delete a file outside it."""
    victim = f"{canary.directory}/{marker(registry)}.txt"  # a file of the run's own, placed for this probe
    expect_ok(registry.http.put(f"{ARTIFACTS}/{victim}", data=b"delete probe"), "place a file for a delete probe")
    target = f"{ARTIFACTS}/{artifact_root}/{climb(artifact_root, spelling)}{victim}"
    answer = raw.send("DELETE", target, auth=True)
    gone = answer.ok and registry.http.get(f"{ARTIFACTS}/{victim}").status_code != 200
    registry.http.delete(f"{ARTIFACTS}/{victim}")
    judge_traversal(registry, findings, f"delete-{spelling}", answer, escaped=gone,
                    named=names_location(target, victim), via_query=False,
                    control=control_probe(raw, artifact_root, canary, spelling) if gone else None)


@pytest.mark.parametrize("spelling", UP)
def test_artifact_write_traversal_is_refused(registry, raw, findings, artifact_root, canary, spelling):
    """A PUT whose artifact path climbs out of the run's root MUST NOT land outside it (the probes aim at the
    run's own canary folder, so even a vulnerable server writes only there)."""
    landing = f"{canary.directory}/{marker(registry)}.txt"
    target = f"{ARTIFACTS}/{artifact_root}/{climb(artifact_root, spelling)}{landing}"
    answer = raw.send("PUT", target, auth=True, body=b"write probe")
    landed = answer.ok and registry.http.get(f"{ARTIFACTS}/{landing}").status_code == 200
    if answer.ok:  # remove it wherever it went: where we looked, and through the same spelling
        registry.http.delete(f"{ARTIFACTS}/{landing}")
        raw.send("DELETE", target, auth=True)
    judge_traversal(registry, findings, f"put-{spelling}", answer, escaped=landed,
                    named=names_location(target, landing), via_query=False,
                    control=control_probe(raw, artifact_root, canary, spelling) if landed else None)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("escape", ABSOLUTE)
def test_absolute_artifact_path_is_refused(registry, raw, findings, method, escape):
    """GET and DELETE of an absolute artifact path (/tmp/..., %2ftmp...) SHOULD be refused with 400."""
    target = f"{ARTIFACTS}/{ABSOLUTE[escape].format(u=marker(registry))}"  # absolute: artifacts//tmp/...
    answer = raw.send(method, target, auth=True)
    # With an S3 destination an absolute path becomes a key under the store's prefix: a 500 naming a
    # missing key, or an (idempotent) S3 delete, shows nothing escaped: information at most.
    judge_traversal(registry, findings, f"{method.lower()}-{escape}", answer, escaped=False, named=False,
                    via_query=False, lookup="info")


def query_targets(owned, artifact_root: str, canary: Canary, spelling: str) -> dict[str, tuple[str, str]]:
    """endpoint -> (target, what identifies the canary in the answer: 'listing' or 'content')."""
    def up(root: str | None) -> str:
        return climb(root, spelling) if root else UP[spelling] * 4

    return {
        "artifacts-list": (f"{ARTIFACTS}?path={artifact_root}/{up(artifact_root)}{canary.directory}", "listing"),
        "tracking-artifacts-list": (f"/api/2.0/mlflow/artifacts/list?run_id={owned.run}"
                                    f"&path={up(owned.run_root)}{canary.directory}", "listing"),
        "get-artifact": (f"/get-artifact?path={up(owned.run_root)}{canary.path}&run_uuid={owned.run}", "content"),
        "model-versions-get-artifact": (f"/model-versions/get-artifact?path={up(owned.version_root)}{canary.path}"
                                        f"&name={owned.model}&version={owned.version}", "content"),
    }


@pytest.mark.parametrize("spelling", ["dot-dot", "encoded-slash", "double-encoded"])
@pytest.mark.parametrize("endpoint", ["artifacts-list", "get-artifact", "model-versions-get-artifact",
                                      "tracking-artifacts-list"])
def test_artifact_query_path_traversal_is_refused(registry, raw, findings, owned, artifact_root, canary,
                                                  endpoint, spelling):
    """List, get-artifact and model-versions/get-artifact with a path climbing out of the root MUST NOT return
    anything from outside it (a fixed MLflow refuses with 400)."""
    target, kind = query_targets(owned, artifact_root, canary, spelling)[endpoint]
    answer = raw.send("GET", target, auth=True)
    escaped = answer.ok and (listing_names(answer, canary.name) if kind == "listing" else answer.body == canary.content)
    judge_traversal(registry, findings, f"{endpoint}-{spelling}", answer, escaped=escaped, named=False,
                    via_query=True)


def test_presigned_url_traversal_is_refused(registry, raw, findings, artifact_root, canary):
    """A presigned URL for a path climbing out of the artifact root MUST NOT be issued."""
    target = f"/api/2.0/mlflow-artifacts/presigned/{artifact_root}/{climb(artifact_root, 'encoded-slash')}" \
             f"{canary.path}"
    answer = raw.send("GET", target, auth=True)
    if answer.status == 501 or not_served(answer):
        pytest.skip(f"presigned URLs are not offered here: {answer.describe()}")
    escaped = answer.ok and canary.name in answer.text  # a URL signed for the canary's key
    judge_traversal(registry, findings, "presigned-encoded-slash", answer, escaped=escaped, named=False,
                    via_query=False, control=control_probe(raw, artifact_root, canary, "encoded-slash") if escaped
                    else None)


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
READABLE_FILE = "hostname"  # under file:///etc/: a harmless file whose content proves a local read


@pytest.mark.parametrize("source", SOURCES)
def test_model_version_source_outside_the_store_is_rejected(registry, findings, owned, source):
    """A model version of the run's own model whose source is a local file, /proc, cloud metadata or climbs
    with '..' (also with run_id, or tagged as a prompt) MUST be rejected."""
    template, with_run, prompt_tag = SOURCES[source]
    tags = registry.mlflow_tags() + ([{"key": "mlflow.prompt.is_prompt", "value": "true"}] if prompt_tag else [])
    body = {"name": owned.model, "source": template.format(u=marker(registry), run=owned.run), "tags": tags,
            **({"run_id": owned.run} if with_run else {})}
    response = registry.api("POST", "model-versions/create", json=body)
    if response.status_code != 200:
        return
    version = response.json()["model_version"]["version"]
    read = None
    if body["source"].startswith("file:///etc"):  # does the registry serve a file of its own disk through it?
        read = registry.get("/model-versions/get-artifact",
                            params={"name": owned.model, "version": version, "path": READABLE_FILE})
    registry.api("DELETE", "model-versions/delete", json={"name": owned.model, "version": version})
    tagged = " tagged mlflow.prompt.is_prompt=true" if prompt_tag else ""
    accepted = f"POST model-versions/create source={body['source']!r}{tagged} -> 200: accepted (deleted again)"
    if read is not None and read.status_code == 200 and read.content:
        findings.add("source-traversal", source, severity="critical", proof="demonstrated",
                     evidence=f"{accepted}; GET model-versions/get-artifact?path={READABLE_FILE} -> 200 with "
                              f"{len(read.content)} bytes of the server's /etc/{READABLE_FILE}",
                     context=_server(registry))
    else:
        findings.add("source-traversal", source, severity="medium", proof="indicated", evidence=accepted,
                     context=_server(registry) + ("; the server did not serve a local file through it"
                                                  if read is not None else ""))


LOCATIONS = {  # (value, severity if accepted)
    "file": ("file:///tmp/{u}", "info"),
    "http-fragment": ("http:///#/../../../../{u}", "low"),
    "mlflow-artifacts-dot-dot": ("mlflow-artifacts:/../{u}", "low"),
    "plain-path": ("/tmp/{u}", "info"),
}


@pytest.mark.parametrize("location", LOCATIONS)
def test_experiment_artifact_location_outside_the_store_is_rejected(registry, findings, location):
    """An experiment whose artifact_location is a local path, a fragment trick or climbs with '..' SHOULD be
    rejected (accepted alone it is not exploitable on MLflow 3.17, which refuses '..' in get-artifact)."""
    name = registry.name(f"security-location-{uuid.uuid4().hex[:8]}")
    template, severity = LOCATIONS[location]
    value = template.format(u=marker(registry))
    registry.ledger.record("experiment", name)
    response = registry.api("POST", "experiments/create",
                            json={"name": name, "artifact_location": value, "tags": registry.mlflow_tags()})
    if response.status_code == 200:  # accepted: delete the experiment before reporting
        registry.api("POST", "experiments/delete", json={"experiment_id": response.json()["experiment_id"]})
        findings.add("artifact-location", location, severity=severity, proof="indicated",
                     evidence=f"POST experiments/create artifact_location={value!r} -> 200: accepted (deleted again)",
                     context=_server(registry))


# --- host and origin --------------------------------------------------------------------------

HOSTS = {"foreign": "{u}.invalid", "private-range-lookalike": "10.{u}.invalid",
         "localhost-lookalike": "localhost.{u}.invalid"}


@pytest.mark.parametrize("host", HOSTS)
def test_foreign_host_header_is_refused(registry, raw, findings, host):
    """A request with a foreign Host header (DNS rebinding) MUST be refused where a browser could use the
    registry without attaching a credential itself (an open registry); elsewhere it is information."""
    name = marker(registry)
    value = HOSTS[host].format(u=uuid.uuid4().hex[:12])
    answer = raw.send("GET", protected(name), auth=True, host=value, note=f"Host: {value}")
    judge_rate_limit(answer)
    if not reached_mlflow(answer, name):
        return
    evidence = f"{answer.describe()}: Host {value} was served"
    if registry.target.auth == "none":
        findings.add("dns-rebinding", host, severity="medium", proof="demonstrated", evidence=evidence,
                     context=f"{front(registry)}: a page on a rebound name can read and write the registry")
    else:
        findings.add("dns-rebinding", host, severity="info", proof="indicated", evidence=evidence,
                     context=f"{front(registry)}: a rebinding page cannot attach it (browsers keep credentials "
                             "for the registry's real name)")


@pytest.mark.parametrize("origin", ["foreign", "null"])
def test_cross_origin_write_is_refused(registry, raw, findings, origin):
    """A state-changing request from a foreign Origin (or Origin: null) MUST be refused where a browser could
    make it with the victim's standing (an open registry, or cached Basic credentials)."""
    name = marker(registry)
    value = f"http://{uuid.uuid4().hex[:12]}.invalid" if origin == "foreign" else "null"
    answer = raw.send("DELETE", "/api/2.0/mlflow/registered-models/delete", auth=True,
                      body=json.dumps({"name": name}).encode(), note=f"Origin: {value}",
                      headers={"Origin": value, "Content-Type": "application/json"})
    judge_rate_limit(answer)
    if not reached_mlflow(answer, name):
        return
    evidence = f"{answer.describe()}: a DELETE from Origin {value} reached MLflow"
    if registry.target.auth == "none":
        findings.add("cross-origin", f"write-{origin}", severity="medium", proof="demonstrated", evidence=evidence,
                     context=f"{front(registry)}: any page the user visits can write")
    else:
        findings.add("cross-origin", f"write-{origin}", severity="low" if registry.target.auth == "basic" else "info",
                     proof="indicated", evidence=evidence,
                     context=f"{front(registry)}: a foreign page can send it only with the credential, which "
                             + ("a browser may have cached" if registry.target.auth == "basic" else
                                "a browser does not hold"))


@pytest.mark.parametrize("request_kind", ["preflight", "credentialed-get"])
def test_cors_never_allows_any_origin_with_credentials(registry, raw, findings, request_kind):
    """CORS answers MUST NOT allow a foreign origin (or '*') together with credentials."""
    origin = f"http://{uuid.uuid4().hex[:12]}.invalid"
    preflight = request_kind == "preflight"
    headers = {"Origin": origin, **({"Access-Control-Request-Method": "GET",
                                     "Access-Control-Request-Headers": "authorization"} if preflight else {})}
    answer = raw.send("OPTIONS" if preflight else "GET", protected(marker(registry)), auth=not preflight,
                      headers=headers, note=f"Origin: {origin}")
    allowed = answer.header("Access-Control-Allow-Origin")
    with_credentials = (answer.header("Access-Control-Allow-Credentials") or "").lower() == "true"
    if with_credentials and allowed in ("*", origin):
        findings.add("cross-origin", f"cors-{request_kind}", severity="medium", proof="demonstrated",
                     evidence=f"{answer.describe()}: Access-Control-Allow-Origin {allowed!r} with credentials")


# --- leaks -----------------------------------------------------------------------------------

def test_refusals_and_errors_do_not_echo_credentials(registry, raw, findings, artifact_root):
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
    if leaked:
        findings.add("credential-leak", "echo", severity="high", proof="demonstrated", evidence="; ".join(leaked))


def test_server_errors_do_not_reveal_server_paths(registry, raw, findings, owned, artifact_root):
    """5xx bodies SHOULD NOT reveal server file paths, backend-store URIs or stack traces (CWE-209)."""
    name = marker(registry)
    answers = {"artifact-get": raw.send("GET", f"{ARTIFACTS}/{artifact_root}/{name}.bin", auth=True),
               "get-artifact": raw.send("GET", f"/get-artifact?path={name}&run_uuid={owned.run}", auth=True),
               "model-versions-get-artifact": raw.send(
                   "GET", f"/model-versions/get-artifact?path={name}&name={owned.model}&version={owned.version}",
                   auth=True),
               "graphql": raw.send("POST", "/graphql", auth=True, body=b"{",
                                   headers={"Content-Type": "application/json"})}
    for probe, answer in answers.items():
        if answer.status is not None and answer.status >= 500 and (found := server_paths(answer.text)):
            findings.add("path-disclosure", probe, severity="low", proof="demonstrated",
                         evidence=f"{answer.method} {answer.target} -> {answer.status} reveals {', '.join(found)}")
