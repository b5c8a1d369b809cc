"""The vendored summary schema is the shared contract, unchanged."""

import json
from pathlib import Path

import pytest

from .runner import ROOT, SCHEMA

SHARED = ROOT.parent / "shared" / "summary.schema.json"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared is not beside this checkout")
def test_vendored_schema_matches_shared_contract():
    assert json.loads(SCHEMA.read_text()) == json.loads(Path(SHARED).read_text())
