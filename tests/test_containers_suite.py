"""The acceptance suite on the containers stack (the images a team deploys), as a user runs it."""

from __future__ import annotations

import pytest

from .runner import run_suite, validate_summary

pytestmark = pytest.mark.slow
FIVE = ("endpoints", "auth", "artifacts", "registration", "retrieval")


def _skip_without_images():
    from fixtures.stacks import docker_available

    if not docker_available():
        pytest.skip("no Docker engine answers")
    from fixtures.stacks.containers import missing_images

    missing = missing_images()
    if missing:
        pytest.skip(f"images not built (run docker/build-offline-images.sh): {', '.join(missing)}")


def test_containers_stack_passes_every_criterion(tmp_path):
    _skip_without_images()
    run = run_suite(tmp_path, "-m", "local", "--stack", "containers")
    validate_summary(run.summary)
    assert run.summary["target"]["stack"] == "containers"
    assert run.returncode == 0, run.output[-3000:]
    assert all(run.verdicts()[name] == "passed" for name in (*FIVE, "security")), run.verdicts()
    assert run.leftovers() == []


def test_image_without_artifact_serving_is_caught(tmp_path):
    _skip_without_images()
    run = run_suite(tmp_path, "-m", "local", "--stack", "containers", "--fault", "no-serve-artifacts")
    verdicts = run.verdicts()
    assert run.returncode == 1 and verdicts["artifacts"] == "failed" and verdicts["retrieval"] == "error", verdicts
    assert "--serve-artifacts" in run.diagnosis("artifacts")
