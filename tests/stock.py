"""Start healthy, stock MLflow deployments on loopback, as users really run them.

They prove the suite raises no false alarms on what users run (not the project's own auth proxy).

Each deployment is moto's S3 server and ``mlflow server`` (this venv's MLflow, or an older one
from its own venv, tests/old_servers.py), alone or behind a plain nginx that checks a bearer key.
``Deployment(name).start()`` returns what a user would export plus the extra pytest args.

    python -m tests.stock NAME      # start one by hand, print `export ...` lines; Ctrl-C stops it
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import secrets
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path


from fixtures.stacks.base import StackStartError, StartsCleanly
from fixtures.stacks.processes import S3_CREDENTIALS, moto_argv, prepare_moto
from fixtures.stacks.supervise import (Child, ChildGroup, child_env, free_port, serve_until_interrupted,
                                       stop_on_ctrl_c_or_term, wait_http)

from .old_servers import cache_root, server_venv

PREFIX = "/api/mlflow"
CURRENT = "3.17.2"  # the MLflow of this venv; other versions run from their own venv
START_TIMEOUT_S = 120  # several servers starting at once on 2 cores take 20-35 s


@dataclass(frozen=True)
class Spec:
    about: str
    server: str = CURRENT
    nginx: bool = False  # behind nginx checking `Authorization: Bearer <key>` under PREFIX
    basic_auth: bool = False  # MLflow's own auth app (--app-name basic-auth), user admin
    auth_cache_s: int = 0  # its documented credential cache (auth_cache_ttl_seconds; off by default)
    static_prefix: bool = False  # --static-prefix PREFIX: MLflow itself serves under the prefix
    # Open servers get an exact --allowed-hosts (a registry meant to be open must refuse foreign Hosts);
    # authenticated ones keep MLflow's defaults, as users leave them.
    exact_hosts: bool = False
    pytest_args: tuple[str, ...] = ()


DEPLOYMENTS = {
    "nginx-bearer": Spec(f"MLflow {CURRENT} behind nginx checking a bearer key under {PREFIX}", nginx=True),
    "basic-auth": Spec(f"MLflow {CURRENT} with its basic-auth app, no proxy", basic_auth=True),
    "static-prefix": Spec(f"MLflow {CURRENT} with --static-prefix {PREFIX} and the basic-auth app (credential "
                          "cache on), no proxy", basic_auth=True, auth_cache_s=60, static_prefix=True),
    "open": Spec(f"MLflow {CURRENT} without auth, exact --allowed-hosts", exact_hosts=True,
                 pytest_args=("--expect-anonymous",)),
    "open-default-hosts": Spec(f"MLflow {CURRENT} without auth, MLflow's default allowed hosts (insecure)",
                               pytest_args=("--expect-anonymous",)),
    "mlflow-2.22": Spec("MLflow 2.22.5 (own venv) behind nginx checking a bearer key", server="2.22.5", nginx=True),
    "mlflow-3.4": Spec("MLflow 3.4.0 (own venv) behind nginx checking a bearer key", server="3.4.0", nginx=True),
}


@dataclass
class Running:
    """A started deployment, as a user sees it."""

    name: str
    env: dict[str, str]  # what a user exports: MLFLOW_TRACKING_URI and credentials
    pytest_args: list[str]
    workdir: Path  # logs of every component
    start_s: float
    pgids: list[int] = field(default_factory=list)  # process groups of its children: gone after stop


class Deployment(StartsCleanly):
    """One stock deployment. ``base_env`` is the environment its children start from (a self-test
    passes one carrying its mark, to find leftovers)."""

    def __init__(self, name: str, base_env: dict[str, str] | None = None):
        if name not in DEPLOYMENTS:
            raise StackStartError(f"unknown deployment {name!r}; choose one of: {', '.join(DEPLOYMENTS)}")
        self.name, self.spec = name, DEPLOYMENTS[name]
        self.label = f"stock deployment {name}"
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.last_logs: dict[str, str] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix=f"mlflow-stock-{name}-"))
        self.group = ChildGroup(self.workdir)

    def __enter__(self) -> Running:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> Running:
        started = time.monotonic()
        spec = self.spec
        python = sys.executable if spec.server == CURRENT else str(server_venv(spec.server) / "bin" / "python")
        s3_port, mlflow_port = free_port(), free_port()
        s3_url, bucket = f"http://127.0.0.1:{s3_port}", f"stock-{uuid.uuid4().hex[:12]}"
        s3 = self.group.spawn("s3", moto_argv(s3_port), child_env(self.base_env))
        mlflow_env = child_env(self.base_env, MLFLOW_S3_ENDPOINT_URL=s3_url,
                               MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **S3_CREDENTIALS)
        # An old venv's bin first: MLflow 2.x starts `gunicorn` from PATH, which must be its own.
        mlflow_env["PATH"] = f"{Path(python).parent}{os.pathsep}{mlflow_env.get('PATH', '')}"
        argv = [python, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
                "--workers", "1", "--backend-store-uri", f"sqlite:///{self.workdir / 'mlflow.db'}",
                "--serve-artifacts", "--artifacts-destination", f"s3://{bucket}/mlartifacts"]
        exports: dict[str, str] = {}
        prefix = PREFIX if spec.static_prefix else ""
        if spec.static_prefix:
            argv += ["--static-prefix", PREFIX]
        if spec.exact_hosts:
            argv += ["--allowed-hosts", f"127.0.0.1:{mlflow_port},localhost:{mlflow_port}"]
        if spec.basic_auth:
            password = secrets.token_urlsafe(18)
            argv += ["--app-name", "basic-auth"]
            mlflow_env.update(self._basic_auth_env(password, spec.auth_cache_s))
            exports.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password)
        mlflow = self.group.spawn("mlflow", argv, mlflow_env)
        tracking_uri = f"http://127.0.0.1:{mlflow_port}{prefix}"

        ready = [(f"{tracking_uri}/health", mlflow)]
        if spec.nginx:
            key = "stock_" + secrets.token_urlsafe(24)
            nginx_port = free_port()
            ready.append((f"http://127.0.0.1:{nginx_port}{PREFIX}/health",
                          self._start_nginx(nginx_port, mlflow_port, key)))
            tracking_uri = f"http://127.0.0.1:{nginx_port}{PREFIX}"
            exports["MLFLOW_TRACKING_TOKEN"] = key

        with ThreadPoolExecutor(len(ready) + 1) as pool:
            waits = [pool.submit(prepare_moto, s3, s3_url, bucket)]
            waits += [pool.submit(wait_http, url, child, START_TIMEOUT_S, lambda r: r.status_code == 200)
                      for url, child in ready]
            for wait in waits:
                wait.result()
        return Running(self.name, {"MLFLOW_TRACKING_URI": tracking_uri, **exports}, list(spec.pytest_args),
                       self.workdir, time.monotonic() - started, [c.proc.pid for c in self.group.children])

    def _basic_auth_env(self, password: str, cache_s: int) -> dict[str, str]:
        # Our own config file: the packaged one keeps the user store in ./basic_auth.db (the cwd).
        config = self.workdir / "basic_auth.ini"
        config.write_text("[mlflow]\ndefault_permission = READ\n"
                          f"database_uri = sqlite:///{self.workdir / 'basic_auth.db'}\nadmin_username = admin\n"
                          f"auth_cache_ttl_seconds = {cache_s}\n")
        return {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}

    def _start_nginx(self, port: int, mlflow_port: int, key: str) -> Child:
        nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
        if nginx is None:
            raise StackStartError("nginx is not installed (Debian: apt-get install nginx-light)")
        root = self.workdir / "nginx"
        root.mkdir()
        # As root, nginx's workers run as `nobody`: they must traverse to their temp dirs (which the
        # master creates and hands to them); the config, holding the key, stays root's.
        for path in (self.workdir, root):
            path.chmod(0o711)
        conf = root / "nginx.conf"
        conf.touch(mode=0o600)
        conf.write_text(nginx_conf(root, port, mlflow_port, key))
        return self.group.spawn("nginx", [nginx, "-p", f"{root}/", "-c", str(conf), "-e", str(root / "error.log"),
                                          "-g", "daemon off;"], child_env(self.base_env))

    def stop(self) -> None:
        self.last_logs = self.group.log_tails(3000)  # the workdir goes next: keep what explains a failed start
        self.group.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def nginx_conf(root: Path, port: int, mlflow_port: int, key: str) -> str:
    """A plain reverse proxy as an operator writes it: bearer check under PREFIX, health open,
    bodies of any size streamed through, timeouts long enough for large artifacts."""
    user = ""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"  # Debian's is nogroup
    upstream = f"http://127.0.0.1:{mlflow_port}"
    return f"""\
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log notice;
events {{ worker_connections 512; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;

    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_connect_timeout 10s;
    proxy_send_timeout 600s;
    proxy_read_timeout 600s;
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;

    server {{
        listen 127.0.0.1:{port};
        location = {PREFIX}/health {{
            proxy_pass {upstream}/health;
        }}
        location {PREFIX}/ {{
            if ($http_authorization != "Bearer {key}") {{
                return 401;
            }}
            proxy_pass {upstream}/;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stock", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="deployments:\n" + "\n".join(f"  {k:<20} {v.about}"
                                                                         for k, v in DEPLOYMENTS.items()))
    parser.add_argument("name", choices=DEPLOYMENTS, metavar="NAME", help="the deployment to start")
    args = parser.parse_args(argv)
    stop_on_ctrl_c_or_term()
    deployment = Deployment(args.name)
    if deployment.spec.server != CURRENT:
        print(f"MLflow {deployment.spec.server} runs from its own venv under {cache_root()} "
              "(created on first use: minutes)", flush=True)
    try:
        running = deployment.start()
    except StackStartError as exc:
        for component, tail in deployment.last_logs.items():
            print(f"--- {component} log (end) ---\n{tail}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    try:
        serve_until_interrupted([
            f"{args.name} ready in {running.start_s:.1f} s: {deployment.spec.about}",
            *(f"export {var}={shlex.quote(value)}" for var, value in running.env.items()),
            f"then: .venv/bin/pytest -m live {' '.join(running.pytest_args)}".rstrip(),
            f"logs: {running.workdir}      (Ctrl-C here stops the deployment)"])
    finally:
        deployment.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
