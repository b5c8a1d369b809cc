"""Authentication: anonymous and invalid credentials are refused, valid ones accepted, none echoed."""

import uuid

import pytest

from fixtures.expect import answer, expect_status

pytestmark = pytest.mark.criterion("auth")

# One cheap, read-only request per route family.
ROUTE_FAMILIES = {
    "tracking": "/api/2.0/mlflow/experiments/search?max_results=1",
    "registry": "/api/2.0/mlflow/registered-models/search?max_results=1",
    "artifacts": "/api/2.0/mlflow-artifacts/artifacts?path=acceptance-probe",
    "ajax-api": "/ajax-api/2.0/mlflow/experiments/search?max_results=1",
    "get-artifact": "/get-artifact?path=MLmodel&run_uuid=00000000000000000000000000000000",
}
REFUSED = (401, 403)


@pytest.fixture(autouse=True)
def _credentials_configured(registry):
    if registry.target.auth == "none":
        pytest.skip("no credentials configured (MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD): "
                    "the registry is used anonymously, so it accepts anonymous requests")


def wrong_credential(registry) -> dict:
    probe = f"acceptance-wrong-{uuid.uuid4().hex}"
    if registry.target.auth == "basic":
        import base64

        return {"Authorization": "Basic " + base64.b64encode(f"{registry.target.username}:{probe}".encode()).decode()}
    return {"Authorization": f"Bearer {probe}"}


@pytest.mark.parametrize("family", ROUTE_FAMILIES)
def test_anonymous_request_is_refused(registry, family):
    """Requests without credentials MUST be refused (401/403) on every route family."""
    anonymous = registry.get(ROUTE_FAMILIES[family], auth=False)
    if anonymous.status_code == 404 and "RESOURCE_DOES_NOT_EXIST" not in anonymous.text \
            and registry.get(ROUTE_FAMILIES[family]).status_code == 404:
        pytest.skip(f"the {family} routes are not served through this tracking URI (404 with and without "
                    "credentials): nothing is exposed there; the endpoints criterion judges the routing")
    expect_status(anonymous, *REFUSED)


def test_invalid_credential_is_refused(registry):
    """A credential the registry did not issue MUST be refused (401/403)."""
    expect_status(registry.get(ROUTE_FAMILIES["tracking"], auth=wrong_credential(registry)), *REFUSED)


def test_valid_credential_is_accepted(registry):
    """The configured credential MUST be accepted on the tracking API."""
    expect_status(registry.get(ROUTE_FAMILIES["tracking"]), 200)


def test_error_bodies_do_not_echo_credentials(registry):
    """Error answers MUST NOT echo the credential that was sent, valid or not."""
    wrong = wrong_credential(registry)
    refused = registry.get(ROUTE_FAMILIES["tracking"], auth=wrong)
    missing = registry.api("GET", "registered-models/get", params={"name": registry.name("does-not-exist")})
    sent = [wrong["Authorization"].split(" ", 1)[1], *registry.target.secrets()]
    for response in (refused, missing):
        leaked = [s for s in sent if s in response.text or any(s in v for v in response.headers.values())]
        assert not leaked, f"{answer(response)} echoes a credential that was sent"
