"""Docker HEALTHCHECK: the server answers 200 on <static prefix>/health."""

import os
import sys
import urllib.request

port = os.environ.get("MLFLOW_PORT", "5000")
prefix = os.environ.get("MLFLOW_STATIC_PREFIX", "").rstrip("/")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{prefix}/health", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # noqa: BLE001
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
