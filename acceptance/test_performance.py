"""Performance: figures measured on every run (summary.json ``metrics``, charts in the report).

Without budgets every check records its figures and passes; ``--budget`` / ``--budgets-file``
turn a figure outside its budget into a failure naming figure, value and budget.
A check whose prerequisite is broken (artifact API, registration) is skipped as blocked:
the criterion that owns the prerequisite says what is wrong.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from fixtures.expect import answer
from fixtures.metrics import Figures, budgets_from_config, mb_per_s, percentile
from fixtures.transfer import MiB, client_env, random_file, streamed_put
from fixtures.workflows import WorkflowError, create_registered_model, log_and_register, short_error

pytestmark = pytest.mark.criterion("performance")

API_CALLS = 50  # cheap read-only calls behind the latency distribution
CHEAP_CALLS = (
    ("GET", "/version", {}),
    ("GET", "/api/2.0/mlflow/experiments/search", {"max_results": 1}),
    ("GET", "/api/2.0/mlflow/registered-models/search", {"max_results": 1}),
)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node, budgets_from_config(request.config))


def transfer_sizes(large_file_mb: int) -> list[int]:
    """1, 4, 16, ... MiB below the large-file size, then the large-file size itself."""
    sizes, size = [], 1
    while size < large_file_mb:
        sizes.append(size)
        size *= 4
    return [*sizes, max(1, large_file_mb)]


def blocked(what: str, owner: str, detail: str):
    pytest.skip(f"blocked: needs {what} ({owner} criterion), which failed: {' '.join(detail.split())[:300]}")


# --- transfers, timed ---------------------------------------------------------------------

def tracking_upload(registry, url_path: str, local: Path) -> float:
    """Seconds to PUT ``local`` through the tracking URI (streamed); blocked when the artifact API fails."""
    started = time.perf_counter()
    response = streamed_put(registry, url_path, local)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        blocked("artifact uploads through the tracking URI", "artifacts", answer(response))
    return elapsed


def tracking_download(registry, url_path: str, size: int) -> float:
    started = time.perf_counter()
    response = registry.get(url_path, stream=True, timeout=(5, 30 + 2 * (size // MiB)))
    if response.status_code != 200:
        blocked("artifact downloads through the tracking URI", "artifacts", answer(response))
    received = sum(len(chunk) for chunk in response.iter_content(MiB))
    elapsed = time.perf_counter() - started
    assert received == size, f"GET {url_path} returned {received} bytes, expected {size}"
    return elapsed


def s3_client(registry):
    import boto3

    from fixtures.stacks.processes import S3_CREDENTIALS

    return boto3.client("s3", endpoint_url=registry.target.s3_endpoint,
                        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"])


def s3_upload(s3, bucket: str, key: str, local: Path) -> float:
    started = time.perf_counter()
    with open(local, "rb") as handle:
        s3.put_object(Bucket=bucket, Key=key, Body=handle)
    return time.perf_counter() - started


def s3_download(s3, bucket: str, key: str, size: int) -> float:
    started = time.perf_counter()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    received = sum(len(chunk) for chunk in iter(lambda: body.read(MiB), b""))
    elapsed = time.perf_counter() - started
    assert received == size, f"S3 GET {key} returned {received} bytes, expected {size}"
    return elapsed


# --- checks ---------------------------------------------------------------------------------

def test_api_latency_distribution(registry, figures):
    """The latency of cheap read-only API calls MUST be measured (p50/p95/p99 ms over a bounded number)
    and stay within any configured budget."""
    method, path, params = CHEAP_CALLS[1]
    warm = registry.http.request(method, path, params=params)  # connection set-up is not latency
    if warm.status_code != 200:
        blocked("the tracking API answering 200", "endpoints", answer(warm))
    latencies, refused = [], []
    for i in range(API_CALLS):
        method, path, params = CHEAP_CALLS[i % len(CHEAP_CALLS)]
        started = time.perf_counter()
        response = registry.http.request(method, path, params=params)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            refused.append(answer(response))
    # Keep the evidence small: the first exchanges and any that did not answer 200.
    registry.http.exchanges = registry.http.exchanges[:4] + [e for e in registry.http.exchanges[4:] if e.status != 200]
    for q in (50, 95, 99):
        figures.record(f"api_latency_ms_p{q}", percentile(latencies, q))
    figures.samples("api_latency_ms", latencies)
    assert not refused, f"{len(refused)} of {API_CALLS} cheap API calls did not answer 200, e.g. {refused[0]}"
    figures.check_budgets()


def test_artifact_throughput_through_tracking_uri(registry, artifact_root, large_file_mb, tmp_path, figures):
    """Artifact upload and download through the tracking URI MUST be measured (MB/s) for sizes up to the
    large-file size and stay within any configured budget."""
    sizes = transfer_sizes(large_file_mb)
    for size_mb in sizes:
        local = random_file(tmp_path / f"throughput-{size_mb}.bin", size_mb)
        path = registry.artifact_url_path(f"{artifact_root}/performance/{size_mb}mib.bin")
        size = local.stat().st_size
        up = figures.record(f"upload_mb_s_{size_mb}mib", mb_per_s(size, tracking_upload(registry, path, local)))
        down = figures.record(f"download_mb_s_{size_mb}mib", mb_per_s(size, tracking_download(registry, path, size)))
        local.unlink()
    figures.record("upload_mb_s", up)  # the headline figures: the largest size
    figures.record("download_mb_s", down)
    figures.check_budgets()


def test_proxy_efficiency_against_direct_s3(registry, artifact_root, large_file_mb, tmp_path, figures):
    """In local mode, transfers straight to the S3 server behind MLflow MUST be measured and the tracking
    URI's efficiency reported as a ratio, within any configured budget."""
    bucket = registry.target.s3_bucket
    if not registry.target.s3_endpoint or not bucket:
        pytest.skip("local mode only: the suite does not know the S3 server behind a live registry")
    s3 = s3_client(registry)
    sizes = transfer_sizes(large_file_mb)
    for size_mb in sizes:
        local = random_file(tmp_path / f"direct-{size_mb}.bin", size_mb)
        size, key = local.stat().st_size, f"{registry.run_id}-performance/{size_mb}mib.bin"
        if size_mb == sizes[-1]:
            # The ratio compares the two paths back to back, with the same file, under the same load.
            path = registry.artifact_url_path(f"{artifact_root}/performance-ratio/{size_mb}mib.bin")
            tracking_up = tracking_upload(registry, path, local)
        try:
            up = s3_upload(s3, bucket, key, local)
            if size_mb == sizes[-1]:
                tracking_down = tracking_download(registry, path, size)
            down = s3_download(s3, bucket, key, size)
        except Exception as exc:
            if isinstance(exc, (AssertionError, pytest.skip.Exception)):
                raise
            raise AssertionError(f"straight to S3 at {registry.target.s3_endpoint}: {short_error(exc)}") from None
        finally:
            try:
                s3.delete_object(Bucket=bucket, Key=key)
            except Exception:
                pass
        figures.record(f"s3_upload_mb_s_{size_mb}mib", mb_per_s(size, up))
        figures.record(f"s3_download_mb_s_{size_mb}mib", mb_per_s(size, down))
        local.unlink()
    figures.record("s3_upload_mb_s", mb_per_s(size, up))
    figures.record("s3_download_mb_s", mb_per_s(size, down))
    figures.record("proxy_upload_efficiency", up / tracking_up)  # = tracking MB/s / direct MB/s
    figures.record("proxy_download_efficiency", down / tracking_down)
    figures.check_budgets()


def test_registration_latency(registry, experiment, trained_model, figures):
    """Registration latency (log a model + register it + READY) MUST be measured and stay within any
    configured budget."""
    import mlflow.sklearn  # noqa: F401  (import time is not registration latency)

    started = time.perf_counter()
    try:
        name = create_registered_model(registry, "performance-model", description="registration latency")
        log_and_register(registry, experiment["experiment_id"], name, trained_model)
    except WorkflowError as exc:
        blocked("a working registration", "registration", str(exc))
    figures.record("registration_s", time.perf_counter() - started)
    figures.check_budgets()


def test_model_load_latency(registry, model_version, figures):
    """Loading a registered model (models:/name/version) MUST be measured and stay within any configured budget."""
    import mlflow.sklearn

    try:  # the flavour's own imports are not the registry's latency
        import skops.io  # noqa: F401
    except ImportError:
        pass
    uri = f"models:/{model_version.name}/{model_version.version}"
    started = time.perf_counter()
    try:
        model = mlflow.sklearn.load_model(uri)
    except Exception as exc:
        blocked(f"loading {uri}", "retrieval", short_error(exc))
    figures.record("model_load_s", time.perf_counter() - started)
    assert (model.predict(model_version.trained.sample) == model_version.trained.predict()).all(), \
        f"{uri} loaded but predicts differently"
    figures.check_budgets()


def test_proxied_multipart_upload_above_threshold(registry, experiment, large_file_mb, tmp_path, figures, request):
    """In large-file mode, a file above MLflow's multipart threshold MUST upload with proxied multipart upload
    (MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD) intact, within any configured budget."""
    if not request.config.getoption("large_files"):
        pytest.skip("opt-in large-file mode: run with --large-files (uploads a file above MLflow's multipart "
                    "threshold, 500 MiB by default)")
    if reason := registry.server_lacks("server-info multipart advertisement"):
        pytest.skip(reason)
    if not registry.server_info.get("multipart_uploads_enabled"):
        pytest.skip("the target takes uploads through the proxy only (server-info: multipart_uploads_enabled false)")
    import mlflow
    from mlflow.environment_variables import MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    threshold = MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE.get()
    size_mb = max(large_file_mb, math.ceil(threshold / MiB) + 1)
    local = random_file(tmp_path / "above-threshold.bin", size_mb)
    client = mlflow.MlflowClient(registry.target.tracking_uri)
    run = client.create_run(experiment["experiment_id"], run_name=registry.name("multipart"), tags=registry.tags)
    completed = []
    original = HttpArtifactRepository.complete_multipart_upload

    def spy(self, *args, **kwargs):
        completed.append(args)
        return original(self, *args, **kwargs)

    started = time.perf_counter()
    try:
        with client_env(MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD="true"), \
                pytest.MonkeyPatch.context() as patch:
            patch.setattr(HttpArtifactRepository, "complete_multipart_upload", spy)
            client.log_artifact(run.info.run_id, str(local), artifact_path="large")
    except Exception as exc:
        raise AssertionError(f"proxied multipart upload of {size_mb} MiB: {short_error(exc)}") from None
    elapsed = time.perf_counter() - started
    assert completed, (f"the MLflow client uploaded {size_mb} MiB (threshold {threshold // MiB} MiB) in one PUT: "
                       "the server did not accept a multipart upload")
    figures.record("multipart_upload_mb_s", mb_per_s(local.stat().st_size, elapsed))
    listed = {Path(f.path).name: f.file_size for f in client.list_artifacts(run.info.run_id, "large")}
    assert listed.get(local.name) == local.stat().st_size, f"after the multipart upload the listing shows {listed}"
    figures.check_budgets()
