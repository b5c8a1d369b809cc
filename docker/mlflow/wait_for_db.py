"""Wait until the database named by MLFLOW_BACKEND_STORE_URI accepts connections.

Run by the entrypoint when MLFLOW_DB_WAIT_SECONDS is not 0. Does nothing for file and
SQLite stores. Gives up after MLFLOW_DB_WAIT_SECONDS (exit 1); the password is never printed.
"""

import os
import sys
import time

uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
if not uri.startswith(("postgresql", "mysql", "mssql")):
    sys.exit(0)

import sqlalchemy  # noqa: E402  (only needed for database stores)

deadline = time.monotonic() + float(os.environ.get("MLFLOW_DB_WAIT_SECONDS", "60"))
url = sqlalchemy.engine.make_url(uri)
try:
    engine = sqlalchemy.create_engine(url)
except ImportError as exc:  # a permanent error: say so instead of waiting
    print(f"wait_for_db: no database driver for {url.drivername}:// in this image ({exc})", file=sys.stderr)
    sys.exit(1)
while True:
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        break
    except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
        if time.monotonic() > deadline:
            print(f"wait_for_db: {url.render_as_string(hide_password=True)} not reachable: "
                  f"{str(exc).splitlines()[0]}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.5)
engine.dispose()
print(f"wait_for_db: {url.render_as_string(hide_password=True)} accepts connections", file=sys.stderr)
