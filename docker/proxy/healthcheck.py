"""Docker HEALTHCHECK: the proxy itself answers (any HTTP status; MLflow behind it may be down)."""

import os
import sys
import urllib.error
import urllib.request

try:
    urllib.request.urlopen(f"http://127.0.0.1:{os.environ.get('PROXY_PORT', '8080')}/", timeout=4)
except urllib.error.HTTPError:
    pass  # 404 outside the prefix: the proxy is up
except Exception as exc:  # noqa: BLE001
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
