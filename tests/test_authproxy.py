"""The auth proxy (fixtures/stacks/authproxy.py) against a tiny real upstream that echoes what it receives.

Requests are written byte for byte with http.client, so that the proxy sees raw targets
such as ``/health/../api`` exactly as an attacker sends them.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import threading

import pytest
from aiohttp import web

from fixtures.stacks.authproxy import SECURITY_FAULTS, AuthProxy, blank_server_paths, build_app
from fixtures.stacks.base import FAULTS, proxy_fault_args

KEY, OTHER_KEY = "acc_valid-key", "acc_other-service-key"
KEYS = {hashlib.sha256(KEY.encode()).hexdigest(): "platform",
        hashlib.sha256(OTHER_KEY.encode()).hexdigest(): "ml-platform"}
PREFIX = "/api/mlflow"
BEARER = {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream:
    """Echoes method, raw target, headers and body as JSON; /boom answers 500 with server paths."""

    def __init__(self):
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.raw_path)
        if request.path == "/boom":
            return web.Response(status=500, text="failed to open sqlite:////srv/mlflow/mlflow.db "
                                "(File \"/usr/lib/python3/site-packages/mlflow/store.py\", line 12)")
        body = await request.read()
        return web.json_response({"method": request.method, "target": request.raw_path,
                                  "headers": dict(request.headers), "body": body.decode(errors="replace")})


# Proxies in front of the upstream: the healthy one and one per fault switch.
PROXIES = {"healthy": {}, "normalising": {"normalising_allow_list": True}, "open-artifacts": {"open_artifacts": True},
           "identity-headers": {"trust_identity_headers": True}, "query-token": {"query_token": True},
           "echo-credentials": {"echo_credentials": True}, "cors-any-origin": {"cors_any_origin": True},
           "resolve-artifact-paths": {"resolve_artifact_paths": True}, "raw-server-errors": {"raw_server_errors": True}}


@pytest.fixture(scope="module")
def servers():
    """An upstream and the PROXIES in front of it (plus one with a dead upstream), one event loop."""
    loop = asyncio.new_event_loop()
    upstream = Upstream()
    ports = {name: free_port() for name in ("upstream", *PROXIES, "dead")}
    runners = []

    async def start():
        upstream_app = web.Application()
        upstream_app.router.add_route("*", "/{tail:.*}", upstream.handle)
        apps = [(upstream_app, ports["upstream"])]
        base = f"http://127.0.0.1:{ports['upstream']}"
        for name, options in PROXIES.items():
            apps.append((build_app(AuthProxy(base, PREFIX, KEYS, "platform", **options)), ports[name]))
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        apps.append((build_app(AuthProxy(dead, PREFIX, KEYS, "platform")), ports["dead"]))
        for app, port in apps:
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    yield ports, upstream
    for runner in reversed(runners):
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def send(port: int, method: str, target: str, headers: dict | None = None, body: bytes | None = None,
         host: str | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host or f"127.0.0.1:{port}")
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


def echoed(data: bytes) -> dict:
    return json.loads(data)


# --- authentication --------------------------------------------------------------------------

def test_health_is_open_everything_else_needs_the_key(servers):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", f"{PREFIX}/health")[0] == 200
    assert send(ports["healthy"], "GET", f"{PREFIX}/version")[0] == 401
    assert send(ports["healthy"], "GET", f"{PREFIX}/version", BEARER)[0] == 200
    assert send(ports["healthy"], "GET", f"{PREFIX}/version", {"Authorization": f"Bearer {OTHER_KEY}"})[0] == 403


@pytest.mark.parametrize("value", ["Bearer ", "Bearer", f"bearer {KEY}", f"Basic {KEY}", f"Token {KEY}"])
def test_malformed_credentials_are_refused(servers, value):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", f"{PREFIX}/version", {"Authorization": value})[0] == 401


def test_token_in_query_string_is_refused(servers):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", f"{PREFIX}/version?access_token={KEY}")[0] == 401


def test_two_authorization_headers_are_refused(servers):
    (ports, _) = servers
    conn = http.client.HTTPConnection("127.0.0.1", ports["healthy"], timeout=10)
    conn.putrequest("GET", f"{PREFIX}/version", skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{ports['healthy']}")
    conn.putheader("Authorization", f"Bearer {KEY}")
    conn.putheader("Authorization", "Bearer someone-else")
    conn.endheaders()
    assert conn.getresponse().status == 400


def test_the_key_is_not_forwarded(servers):
    (ports, _) = servers
    headers = echoed(send(ports["healthy"], "GET", f"{PREFIX}/x", BEARER)[2])["headers"]
    assert "Authorization" not in headers and KEY not in json.dumps(headers)


# --- paths -----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    f"{PREFIX}//api/2.0/x", f"{PREFIX}/./api/2.0/x", f"{PREFIX}/health/../api/2.0/x", f"{PREFIX}/health/%2e%2e/api",
    f"{PREFIX}/health/%2E%2E/api", f"{PREFIX}/health/..%2fapi", f"{PREFIX}/api%2f2.0",
    f"{PREFIX}/health/%252e%252e/api",
    f"{PREFIX}/health;/../api", f"{PREFIX}/api/2.0/x;y", f"{PREFIX}/health\\..\\api", f"{PREFIX}/api/x#/../../health",
    f"{PREFIX}/api/x%00", f"/{PREFIX}/api/2.0/x", "http://127.0.0.1/api/mlflow/health/../api/2.0/x",
])
def test_ambiguous_raw_paths_are_refused_before_they_reach_mlflow(servers, target):
    (ports, upstream) = servers
    before = len(upstream.seen)
    status, _, body = send(ports["healthy"], "GET", target, BEARER)
    assert status == 400 and b"Invalid path" in body
    assert len(upstream.seen) == before


def test_the_judged_raw_target_is_forwarded_unchanged(servers):
    (ports, _) = servers
    target = "/api/2.0/mlflow-artifacts/artifacts/a%20b/c.txt?path=x/../y&q=%2e"
    assert echoed(send(ports["healthy"], "GET", PREFIX + target, BEARER)[2])["target"] == target


@pytest.mark.parametrize("target", [f"{PREFIX}/Health", f"{PREFIX}/health/", f"{PREFIX}/health.json",
                                    f"{PREFIX}/API/2.0/x", f"{PREFIX}/api/2.0/x?y=/../../../../health"])
def test_only_the_exact_health_path_is_anonymous(servers, target):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", target)[0] == 401


def test_encoded_letters_are_judged_decoded(servers):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", f"{PREFIX}/h%65alth")[0] == 200  # it is /health upstream too
    assert send(ports["healthy"], "GET", f"{PREFIX}/%61pi/2.0/x")[0] == 401


# --- host, origin, forged headers --------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.invalid", "10.evil.invalid", "localhost.evil.invalid",
                                  "127.0.0.1.evil.invalid"])
def test_foreign_hosts_are_refused(servers, host):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", f"{PREFIX}/version", BEARER, host=host)[0] == 403
    assert send(ports["healthy"], "GET", f"{PREFIX}/health", host=host)[0] == 200  # health is exempt


@pytest.mark.parametrize("host", ["localhost:5000", "127.0.0.1:1", "[::1]:8080", "LOCALHOST"])
def test_local_hosts_are_served_on_any_port(servers, host):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", f"{PREFIX}/version", BEARER, host=host)[0] == 200


def test_cross_origin_writes_are_refused(servers):
    (ports, _) = servers
    port = ports["healthy"]
    write = f"{PREFIX}/api/2.0/mlflow/registered-models/delete"
    assert send(port, "DELETE", write, {**BEARER, "Origin": "http://evil.invalid"}, b"{}")[0] == 403
    assert send(port, "DELETE", write, {**BEARER, "Origin": "null"}, b"{}")[0] == 403
    assert send(port, "DELETE", write, {**BEARER, "Origin": f"http://127.0.0.1:{port}"}, b"{}")[0] == 200
    assert send(port, "GET", f"{PREFIX}/version", {**BEARER, "Origin": "http://evil.invalid"})[0] == 200


def test_forged_identity_headers_are_dropped(servers):
    (ports, _) = servers
    forged = {"X-Forwarded-User": "admin", "x-forwarded-for": "10.0.0.1", "X-Real-IP": "10.0.0.1",
              "X-Remote-User": "admin", "Remote-User": "admin", "X-Original-URL": "/admin", "X-Rewrite-URL": "/admin",
              "X-HTTP-Method-Override": "DELETE", "X-Method-Override": "DELETE", "Forwarded": "for=10.0.0.1"}
    headers = echoed(send(ports["healthy"], "GET", f"{PREFIX}/x", {**BEARER, **forged})[2])["headers"]
    assert not {k.lower() for k in headers} & {k.lower() for k in forged} - {"x-forwarded-for"}
    assert headers["X-Forwarded-For"] == "127.0.0.1" and headers["X-Forwarded-Prefix"] == PREFIX


# --- bodies ------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", ["/api/2.0/mlflow/experiments/create", "/ajax-api/2.0/mlflow/experiments/create"])
def test_client_chosen_artifact_locations_are_refused(servers, route):
    (ports, upstream) = servers
    before = len(upstream.seen)
    body = json.dumps({"name": "x", "artifact_location": "file:///etc"}).encode()
    headers = {**BEARER, "Content-Type": "application/json"}
    status, _, answer = send(ports["healthy"], "POST", PREFIX + route, headers, body)
    assert status == 400 and b"artifact_location" in answer and len(upstream.seen) == before


def test_experiments_without_a_location_pass_with_their_body(servers):
    (ports, _) = servers
    body = json.dumps({"name": "x", "artifact_location": ""}).encode()
    status, _, answer = send(ports["healthy"], "POST", f"{PREFIX}/api/2.0/mlflow/experiments/create",
                             {**BEARER, "Content-Type": "application/json"}, body)
    assert status == 200 and echoed(answer)["body"] == body.decode()


def test_server_errors_lose_their_file_paths(servers):
    (ports, _) = servers
    status, headers, body = send(ports["healthy"], "GET", f"{PREFIX}/boom", BEARER)
    assert status == 500 and b"/srv/" not in body and b"site-packages" not in body and b"sqlite:" not in body
    assert int(headers["Content-Length"]) == len(body)


def test_blank_server_paths_keeps_bucket_urls():
    text = "downloading s3://bucket/mlartifacts failed; tracking URI sqlite:////tmp/x/mlflow.db; see /var/log/x.log"
    assert blank_server_paths(text) == ("downloading s3://bucket/mlartifacts failed; tracking URI <server path>; "
                                        "see <server path>")


def test_unreachable_upstream_is_a_502_without_details(servers):
    (ports, _) = servers
    status, _, body = send(ports["dead"], "GET", f"{PREFIX}/version", BEARER)
    assert status == 502 and b"127.0.0.1" not in body


# --- fault switches ------------------------------------------------------------------------------

def test_normalising_fault_lets_dot_segments_in_the_query_through(servers):
    (ports, upstream) = servers
    target = "/api/2.0/mlflow/registered-models/get?name=x&acc=/../../../../../../../../health"
    assert send(ports["healthy"], "GET", PREFIX + target)[0] == 401
    status, _, body = send(ports["normalising"], "GET", PREFIX + target)
    assert status == 200 and echoed(body)["target"] == target  # anonymous, raw target forwarded


def test_normalising_fault_still_refuses_plain_anonymous_requests(servers):
    (ports, _) = servers
    assert send(ports["normalising"], "GET", f"{PREFIX}/api/2.0/mlflow/registered-models/get?name=x")[0] == 401
    assert send(ports["normalising"], "GET", f"{PREFIX}/health/../api/2.0/x")[0] == 401


def test_open_artifacts_fault_serves_artifact_routes_anonymously(servers):
    (ports, _) = servers
    assert send(ports["open-artifacts"], "GET", f"{PREFIX}/api/2.0/mlflow-artifacts/artifacts?path=x")[0] == 200
    assert send(ports["open-artifacts"], "GET", f"{PREFIX}/api/2.0/mlflow/experiments/search")[0] == 401
    assert send(ports["healthy"], "GET", f"{PREFIX}/api/2.0/mlflow-artifacts/artifacts?path=x")[0] == 401


PROTECTED = f"{PREFIX}/api/2.0/mlflow/registered-models/get?name=x"


@pytest.mark.parametrize("header", ["X-Remote-User", "x-forwarded-user"])
def test_identity_headers_fault_lets_a_forged_user_in_and_forwards_it(servers, header):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", PROTECTED, {header: "admin"})[0] == 401
    status, _, body = send(ports["identity-headers"], "GET", PROTECTED, {header: "admin"})
    assert status == 200 and {k.lower(): v for k, v in echoed(body)["headers"].items()}[header.lower()] == "admin"
    assert send(ports["identity-headers"], "GET", PROTECTED, {"Remote-User": "admin"})[0] == 401  # others: no


@pytest.mark.parametrize("param", ["access_token", "token", "api_key"])
def test_query_token_fault_accepts_the_key_in_the_query_string(servers, param):
    (ports, _) = servers
    assert send(ports["healthy"], "GET", f"{PROTECTED}&{param}={KEY}")[0] == 401
    assert send(ports["query-token"], "GET", f"{PROTECTED}&{param}={KEY}")[0] == 200
    assert send(ports["query-token"], "GET", f"{PROTECTED}&{param}=acc_wrong")[0] == 401
    assert send(ports["query-token"], "GET", f"{PROTECTED}&{param}={OTHER_KEY}")[0] == 403


@pytest.mark.parametrize(("value", "status"), [("Bearer acc_wrong-secret", 401), (f"Bearer {OTHER_KEY}", 403),
                                               ("Token acc_wrong-secret", 401)])
def test_echo_credentials_fault_quotes_the_refused_credential(servers, value, status):
    (ports, _) = servers
    secret = value.split(" ", 1)[1]
    healthy = send(ports["healthy"], "GET", PROTECTED, {"Authorization": value})
    assert healthy[0] == status and secret.encode() not in healthy[2]
    answer = send(ports["echo-credentials"], "GET", PROTECTED, {"Authorization": value})
    assert answer[0] == status and f"invalid credential: {value}".encode() in answer[2]
    assert send(ports["echo-credentials"], "GET", PROTECTED, BEARER)[0] == 200


def test_cors_fault_answers_preflights_for_any_origin_with_credentials(servers):
    (ports, upstream) = servers
    preflight = {"Origin": "http://evil.invalid", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"}
    status, headers, _ = send(ports["healthy"], "OPTIONS", PROTECTED, preflight)
    assert status == 401 and "Access-Control-Allow-Origin" not in headers
    before = len(upstream.seen)
    status, headers, _ = send(ports["cors-any-origin"], "OPTIONS", PROTECTED, preflight)
    assert status == 204 and len(upstream.seen) == before  # answered by the proxy, without credentials
    assert headers["Access-Control-Allow-Origin"] == "http://evil.invalid"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "GET" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "authorization"


def test_cors_fault_allows_any_origin_on_credentialed_answers(servers):
    (ports, _) = servers
    origin = {**BEARER, "Origin": "http://evil.invalid"}
    assert "Access-Control-Allow-Origin" not in send(ports["healthy"], "GET", PROTECTED, origin)[1]
    status, headers, _ = send(ports["cors-any-origin"], "GET", PROTECTED, origin)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://evil.invalid"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in send(ports["cors-any-origin"], "GET", PROTECTED, BEARER)[1]


@pytest.mark.parametrize(("sent", "forwarded"), [
    ("/api/2.0/mlflow-artifacts/artifacts?path=1/../../2/canary", "/api/2.0/mlflow-artifacts/artifacts?path=2/canary"),
    ("/api/2.0/mlflow-artifacts/artifacts?path=1%2f..%2f..%2f2%2fa%20b",
     "/api/2.0/mlflow-artifacts/artifacts?path=2/a%20b"),
    ("/api/2.0/mlflow-artifacts/artifacts?path=/tmp/x", "/api/2.0/mlflow-artifacts/artifacts?path=tmp/x"),
    ("/api/2.0/mlflow/artifacts/list?run_id=r&path=../../x&page_token=t",
     "/api/2.0/mlflow/artifacts/list?run_id=r&path=x&page_token=t"),
])
def test_resolve_artifact_paths_fault_forwards_a_clean_path(servers, sent, forwarded):
    """Dot segments (also %2f-encoded) and a leading '/' resolve below the root, as a vulnerable server would."""
    (ports, _) = servers
    assert echoed(send(ports["healthy"], "GET", PREFIX + sent, BEARER)[2])["target"] == sent
    assert echoed(send(ports["resolve-artifact-paths"], "GET", PREFIX + sent, BEARER)[2])["target"] == forwarded


@pytest.mark.parametrize("target", ["/api/2.0/mlflow-artifacts/artifacts?path=1/a%20b/c.txt",
                                    "/get-artifact?path=../x&run_uuid=r"])
def test_resolve_artifact_paths_fault_leaves_other_targets_alone(servers, target):
    (ports, _) = servers
    assert echoed(send(ports["resolve-artifact-paths"], "GET", PREFIX + target, BEARER)[2])["target"] == target
    assert send(ports["resolve-artifact-paths"], "GET", f"{PREFIX}/api/2.0/mlflow-artifacts/artifacts?path=x")[0] == 401


def test_raw_server_errors_fault_passes_server_paths_on(servers):
    (ports, _) = servers
    status, _, body = send(ports["raw-server-errors"], "GET", f"{PREFIX}/boom", BEARER)
    assert status == 500 and b"sqlite:////srv/mlflow/mlflow.db" in body and b"site-packages" in body
    assert b"sqlite:" not in send(ports["healthy"], "GET", f"{PREFIX}/boom", BEARER)[2]


def test_every_security_switch_is_a_fault_profile():
    flags = {flag for fault in FAULTS for flag in proxy_fault_args(fault)}
    assert {"--" + switch.replace("_", "-") for switch in SECURITY_FAULTS} <= flags
