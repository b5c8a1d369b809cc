"""Artifact upload: files go through the proxied artifact API intact, raw and with the MLflow client."""

import hashlib
import os

import pytest

from fixtures.expect import expect_json, expect_status
from fixtures.transfer import (client_download, client_log_artifact, presigned_download_reachable, random_file,
                               sha256_of, streamed_put)

pytestmark = pytest.mark.criterion("artifacts")


def test_text_file_round_trip(registry, artifact_root):
    """A text file uploaded with PUT MUST come back byte for byte with GET."""
    path = registry.artifact_url_path(f"{artifact_root}/text/hello.txt")
    text = f"hello from {registry.run_id}\nsecond line\n".encode()
    expect_status(registry.http.put(path, data=text), 200)
    assert expect_status(registry.get(path), 200).content == text


def test_binary_file_sha256_round_trip(registry, artifact_root):
    """A binary file MUST come back with the same sha256."""
    data = os.urandom(256 * 1024)
    path = registry.artifact_url_path(f"{artifact_root}/binary/blob.bin")
    expect_status(registry.http.put(path, data=data), 200)
    returned = expect_status(registry.get(path), 200).content
    assert hashlib.sha256(returned).hexdigest() == hashlib.sha256(data).hexdigest()


def test_nested_paths_are_listed_with_sizes(registry, artifact_root):
    """Nested paths MUST be created on upload and listed with their sizes."""
    files = {"nested/a/one.txt": b"1", "nested/a/b/two.txt": b"22", "nested/a/b/c/three.txt": b"333"}
    for name, data in files.items():
        expect_status(registry.http.put(registry.artifact_url_path(f"{artifact_root}/{name}"), data=data), 200)
    listing = expect_json(registry.list_artifacts(f"{artifact_root}/nested/a/b"))
    entries = {f["path"]: f for f in listing.get("files", [])}
    assert entries.get("two.txt", {}).get("file_size") == 2, f"listing of nested/a/b: {listing}"
    assert entries.get("c", {}).get("is_dir") is True, f"listing of nested/a/b: {listing}"


def test_large_file_arrives_intact(registry, artifact_root, large_file_mb, tmp_path):
    """A large file (--large-file-mb, default 16 MiB) MUST upload and download intact."""
    local = random_file(tmp_path / "large.bin", large_file_mb)
    path = registry.artifact_url_path(f"{artifact_root}/large/large.bin")
    expect_status(streamed_put(registry, path, local), 200)
    response = expect_status(registry.get(path, stream=True, timeout=(5, 30 + 2 * large_file_mb)), 200)
    digest = hashlib.sha256()
    for chunk in response.iter_content(1 << 20):
        digest.update(chunk)
    assert digest.hexdigest() == sha256_of(local), "the large file came back changed"


def test_client_upload_and_proxied_download(registry, experiment, tmp_path):
    """The MLflow client MUST log an artifact and download it back through the proxy."""
    local = random_file(tmp_path / "client.bin", 1)
    logged = client_log_artifact(registry, experiment["experiment_id"], local)
    downloaded = client_download(registry, logged, tmp_path / "out", presigned=False)
    assert sha256_of(downloaded) == sha256_of(local), "the client's round trip changed the file"


def test_client_presigned_download(registry, experiment, tmp_path):
    """Where the server offers presigned downloads, the client MUST be able to use them (S3 reachable)."""
    if reason := registry.server_lacks("server-info multipart advertisement"):
        pytest.skip(reason)
    if not registry.server_info.get("multipart_downloads_enabled"):
        pytest.skip("the target serves downloads through the proxy only "
                    "(server-info: multipart_downloads_enabled false)")
    local = random_file(tmp_path / "presigned.bin", 1)
    logged = client_log_artifact(registry, experiment["experiment_id"], local)
    presigned_download_reachable(registry, logged)
    downloaded = client_download(registry, logged, tmp_path / "out", presigned=True)
    assert sha256_of(downloaded) == sha256_of(local), "the presigned download changed the file"


def test_client_multipart_upload(registry, experiment, tmp_path):
    """Where the server offers multipart uploads, a file above the threshold MUST upload in parts intact."""
    if reason := registry.server_lacks("server-info multipart advertisement"):
        pytest.skip(reason)
    if not registry.server_info.get("multipart_uploads_enabled"):
        pytest.skip("the target takes uploads through the proxy only (server-info: multipart_uploads_enabled false)")
    local = random_file(tmp_path / "multipart.bin", 11)
    logged = client_log_artifact(registry, experiment["experiment_id"], local, multipart=True)
    downloaded = client_download(registry, logged, tmp_path / "out", presigned=False)
    assert sha256_of(downloaded) == sha256_of(local), "the multipart upload changed the file"
