"""How fast is the suite itself? A benchmark script (not a test): prints one table over N runs.

    python benchmarks/suite_speed.py [--runs 3] [--broken-fault proxy-no-artifact-route]
                                     [--rss-mb 1024] [--skip-rss] [--pytest-arg=-n --pytest-arg=2]

Per run it measures
  * cold ``pytest -m local --stack processes`` wall time (nothing running before), with the
    stack start and the time per criterion from that run's summary.json;
  * the embedded stack's start on its own;
  * ``pytest -m live`` wall time against an already running healthy stack, and against an
    artifact-broken one (default fault: proxy-no-artifact-route);
and once: the auth proxy's resident memory while 1 GiB is uploaded through it
(/proc/<pid>/status VmRSS sampled every 50 ms, and VmHWM).
Timings depend on what else the machine runs: the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixtures.stacks.base import FAULTS  # noqa: E402
from fixtures.stacks.processes import ProcessStack  # noqa: E402

CRITERIA = ("endpoints", "auth", "artifacts", "registration", "retrieval", "security", "performance")
TARGETS = {  # row -> (limit, unit); the targets on a 2-core machine
    "cold pytest -m local (incl. stack start)": (60.0, "s"),
    "pytest -m live, healthy running stack": (30.0, "s"),
    "proxy peak RSS, 1 GiB upload (VmHWM)": (150.0, "MB"),
}
MiB = 1024 * 1024


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTEST_")) and k != "ACC_STACK"}
    env.update(extra)
    return env


def load() -> float:
    return os.getloadavg()[0]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pytest_run(reports: Path, args: list[str], env: dict[str, str], timeout: float = 900) -> tuple[float, int, dict]:
    """Wall time, exit code and summary.json of one pytest run; its CPU time goes into the summary dict."""
    started, cpu = time.monotonic(), children_cpu()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", f"--reports-dir={reports}", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - started
    cpu = children_cpu() - cpu  # pytest and the stack processes it started and reaped
    try:
        summary = json.loads((reports / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {}
    if proc.returncode not in (0, 1):
        print(f"  pytest {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-1500:]}{proc.stderr[-800:]}",
              file=sys.stderr)
    summary["_cpu_s"] = cpu
    return wall, proc.returncode, summary


def criterion_times(summary: dict) -> dict[str, float]:
    return {name: sum(t.get("duration_s", 0.0) for t in entry.get("tests", []))
            for name, entry in summary.get("criteria", {}).items()}


def start_stack(fault: str) -> tuple[ProcessStack, object, float]:
    stack = ProcessStack(fault=fault)
    started = time.monotonic()
    endpoint = stack.start()
    return stack, endpoint, time.monotonic() - started


class Row:
    def __init__(self, name: str):
        self.name = name
        self.values: list[float | None] = []
        self.loads: list[float] = []
        self.notes: list[str] = []

    def add(self, value: float | None, load_avg: float, note: str = "") -> None:
        self.values.append(value)
        self.loads.append(load_avg)
        if note:
            self.notes.append(note)


def one_run(i: int, args, work: Path, rows: dict[str, Row]) -> None:
    def row(name: str) -> Row:
        return rows.setdefault(name, Row(name))

    extra = list(args.pytest_arg or [])
    print(f"run {i}: cold pytest -m local ...", file=sys.stderr, flush=True)
    before = load()
    wall, code, summary = pytest_run(work / f"local-{i}", ["-m", "local", "--stack", "processes", *extra], clean_env())
    row("cold pytest -m local (incl. stack start)").add(wall, before, f"verdict {summary.get('verdict')}")
    row("  CPU time of that run, user+sys (incl. stack)").add(summary["_cpu_s"], before)
    row("  stack start (inside that run)").add(summary.get("metrics", {}).get("stack_start_s"), before)
    for name, seconds in criterion_times(summary).items():
        row(f"  criterion {name}").add(seconds, before)
    rows.setdefault("_last_metrics", Row("_last_metrics")).values = [summary.get("metrics", {})]

    for label, fault in (("healthy", "healthy"), ("artifact-broken", args.broken_fault)):
        print(f"run {i}: stack ({fault}) + pytest -m live ...", file=sys.stderr, flush=True)
        before = load()
        stack, endpoint, start_s = start_stack(fault)
        try:
            row(f"stack start on its own ({label})").add(start_s, before)
            env = clean_env(MLFLOW_TRACKING_URI=endpoint.tracking_uri, MLFLOW_TRACKING_TOKEN=endpoint.api_key)
            before = load()
            wall, code, summary = pytest_run(work / f"live-{label}-{i}", ["-m", "live", *extra], env)
            name = "pytest -m live, healthy running stack" if label == "healthy" else \
                "pytest -m live, artifact-broken stack"
            row(name).add(wall, before, f"verdict {summary.get('verdict')}" + ("" if label == "healthy" else
                                                                              f" (fault {fault})"))
            row(f"  CPU time of that run, user+sys ({label})").add(summary["_cpu_s"], before)
        finally:
            stack.stop()


def proxy_rss(size_mb: int) -> dict[str, float]:
    """Upload ``size_mb`` MiB through the embedded stack's proxy; sample its memory meanwhile."""
    import requests

    stack, endpoint, _ = start_stack("healthy")
    try:
        proxy = next(c for c in stack.children if c.name == "proxy")
        pid = proxy.proc.pid
        baseline = _status(pid)
        peak = {"VmRSS": baseline["VmRSS"]}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                try:
                    peak["VmRSS"] = max(peak["VmRSS"], _status(pid)["VmRSS"])
                except (OSError, KeyError):
                    pass
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        url = f"{endpoint.tracking_uri}/api/2.0/mlflow-artifacts/artifacts/benchmark-{uuid.uuid4().hex[:8]}/big.bin"
        started = time.monotonic()
        response = requests.put(url, data=RepeatingReader(size_mb * MiB),
                                headers={"Authorization": f"Bearer {endpoint.api_key}"}, timeout=(10, 1800))
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
        after = _status(pid)
        if response.status_code != 200:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:200]}")
        return {"baseline_rss_mb": baseline["VmRSS"] / 1024, "peak_rss_mb": peak["VmRSS"] / 1024,
                "hwm_mb": after["VmHWM"] / 1024, "upload_s": elapsed,
                "mb_s": size_mb * MiB / 1e6 / elapsed}
    finally:
        stack.stop()


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


class RepeatingReader:
    """A file-like body of ``size`` bytes (a random 1 MiB block repeated): streamed, never held whole."""

    def __init__(self, size: int):
        self.len = self.remaining = size
        self.block = os.urandom(MiB)

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        n = min(n, len(self.block))
        self.remaining -= n
        return self.block[:n]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    try:
        from importlib.metadata import version

        mlflow = version("mlflow")
    except Exception:
        mlflow = "?"
    return (f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, MLflow {mlflow}")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(rows: dict[str, Row], rss: dict | None, runs: int) -> None:
    header = f"{'measure':<62}" + "".join(f"{'run ' + str(i + 1):>8}" for i in range(runs)) + \
        f"{'median':>8}{'target':>10}{'load':>12}"
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        if name.startswith("_"):
            continue
        values = [v for v in row.values if v is not None]
        median = statistics.median(values) if values else None
        target = TARGETS.get(name)
        verdict = ""
        if target and median is not None:
            verdict = f"< {target[0]:.0f}{' ok' if median < target[0] else ' MISS'}"
        loads = f"{min(row.loads):.1f}-{max(row.loads):.1f}" if row.loads else ""
        print(f"{name + ' (s)':<62}" + "".join(f"{fmt(v):>8}" for v in row.values)
              + " " * 8 * (runs - len(row.values)) + f"{fmt(median):>8}{verdict:>10}{loads:>12}")
    if rss:
        name = "proxy peak RSS, 1 GiB upload (VmHWM)"
        limit = TARGETS[name][0]
        ok = "ok" if rss["hwm_mb"] < limit else "MISS"
        print(f"{name + ' (MB)':<62}{rss['hwm_mb']:>8.1f}" + " " * 8 * (runs - 1)
              + f"{rss['hwm_mb']:>8.1f}{'< ' + format(limit, '.0f') + ' ' + ok:>10}")
        print(f"  (proxy RSS before {rss['baseline_rss_mb']:.1f} MB, highest sampled during upload "
              f"{rss['peak_rss_mb']:.1f} MB; {rss['size_mb']} MiB in {rss['upload_s']:.1f} s = {rss['mb_s']:.0f} MB/s "
              f"through proxy -> MLflow -> S3)")
    notes = [f"{name}: {', '.join(row.notes)}" for name, row in rows.items() if row.notes and not name.startswith("_")]
    for note in notes:
        print(f"  {note}")
    last = rows.get("_last_metrics")
    if last and last.values and last.values[0]:
        from fixtures.metrics import headline

        print(f"  suite figures of the last cold run: {headline(last.values[0])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--broken-fault", default="proxy-no-artifact-route", choices=sorted(FAULTS))
    parser.add_argument("--rss-mb", type=int, default=1024, help="size uploaded through the proxy (MiB)")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-runs", action="store_true", help="only the proxy RSS measurement")
    parser.add_argument("--pytest-arg", action="append", help="extra argument for every pytest run, e.g. -n")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: dict[str, Row] = {}
    rss = None
    with tempfile.TemporaryDirectory(prefix="suite-speed-") as tmp:
        if not args.skip_runs:
            for i in range(1, args.runs + 1):
                one_run(i, args, Path(tmp), rows)
        if not args.skip_rss:
            print(f"proxy RSS: uploading {args.rss_mb} MiB through the proxy ...", file=sys.stderr, flush=True)
            rss = {**proxy_rss(args.rss_mb), "size_mb": args.rss_mb}
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_table(rows, rss, max(1, 0 if args.skip_runs else args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
