"""Figures, budgets and charts of the performance criterion (fixtures/metrics.py, fixtures/report/charts.py)."""

from __future__ import annotations

import json
import math
import random
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from acceptance.test_performance import transfer_sizes
from fixtures.metrics import (METRIC, SAMPLES, Budget, BudgetError, Figures, budgets_from_options, clean, collect,
                              describe, headline, load_budgets_file, mb_per_s, parse_budget_option, percentile)
from fixtures.report import charts
from fixtures.report.results import CRITERIA, Results
from fixtures.report.summary import build_summary

from .runner import SCHEMA, run_suite

# --- percentiles --------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 100])
def test_percentile_matches_linear_interpolation(q):
    numpy = pytest.importorskip("numpy")
    rng = random.Random(q)
    for n in (1, 2, 3, 10, 50, 101):
        values = [rng.uniform(0, 500) for _ in range(n)]
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))


def test_percentile_small_cases():
    assert percentile([7.0], 99) == 7.0
    assert percentile([3, 1, 2], 50) == 2
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_throughput_and_clean_values():
    assert mb_per_s(16 * 1024 * 1024, 1.0) == pytest.approx(16.777216)
    assert clean(1.23456) == 1.235 and clean(3) == 3
    assert clean(float("nan")) is None and clean(math.inf) is None and clean(True) is None and clean("1") is None


def test_transfer_sizes_stop_at_the_large_file_size():
    assert transfer_sizes(16) == [1, 4, 16]
    assert transfer_sizes(10) == [1, 4, 10]
    assert transfer_sizes(1) == [1]
    assert transfer_sizes(100) == [1, 4, 16, 64, 100]


# --- budgets --------------------------------------------------------------------------------


def test_budget_direction_follows_the_figure():
    assert parse_budget_option("upload_mb_s=20").direction == "min"
    assert parse_budget_option("proxy_upload_efficiency=0.5").direction == "min"
    assert parse_budget_option("api_latency_ms_p95=200").direction == "max"
    assert parse_budget_option("registration_s=30").direction == "max"
    assert parse_budget_option("upload_mb_s_16mib = 10").name == "upload_mb_s_16mib"
    explicit = parse_budget_option("model_load_s>=0.1")
    assert (explicit.direction, explicit.limit) == ("min", 0.1)
    assert parse_budget_option("download_mb_s<=900").direction == "max"


@pytest.mark.parametrize("text", ["upload_mb_s", "upload_mb_s=fast", "=20", "upload_mb_s==20"])
def test_malformed_budget_is_refused(text):
    with pytest.raises(BudgetError, match="--budget"):
        parse_budget_option(text)


def test_budget_for_an_unknown_figure_names_the_known_ones():
    with pytest.raises(BudgetError, match="unknown figure 'upload_mbs'.*upload_mb_s"):
        parse_budget_option("upload_mbs=20")


def test_budgets_file_and_option_override(tmp_path):
    path = tmp_path / "budgets.toml"
    path.write_text('[budgets]\nupload_mb_s = 20\napi_latency_ms_p95 = {max = 250}\nmodel_load_s = {min = 0}\n')
    budgets = budgets_from_options(["api_latency_ms_p95=200"], str(path))
    assert budgets["upload_mb_s"] == Budget("upload_mb_s", 20.0, "min", f"{path} [budgets] upload_mb_s")
    assert budgets["api_latency_ms_p95"].limit == 200 and budgets["api_latency_ms_p95"].source.startswith("--budget")
    assert budgets["model_load_s"].direction == "min"
    flat = tmp_path / "flat.toml"
    flat.write_text("registration_s = 30\n")
    assert load_budgets_file(flat)[0].direction == "max"


def test_example_budgets_file_parses():
    from .runner import ROOT

    budgets = {b.name: b for b in load_budgets_file(ROOT / "benchmarks" / "budgets.example.toml")}
    assert budgets["upload_mb_s"].direction == "min" and budgets["api_latency_ms_p99"].limit == 1000


@pytest.mark.parametrize("content, message", [
    ("upload_mb_s = [1]", "must be a number"),
    ("upload_mb_s = {least = 1}", "min = VALUE"),
    ("upload_mb_s = ", "not valid TOML"),
    ("nonsense_s = 1", "unknown figure"),
    ("stack_start_s = 30", "takes no budget"),
])
def test_bad_budgets_file(tmp_path, content, message):
    path = tmp_path / "b.toml"
    path.write_text(content)
    with pytest.raises(BudgetError, match=message):
        load_budgets_file(path)
    with pytest.raises(BudgetError, match="No such file"):
        load_budgets_file(tmp_path / "missing.toml")


def test_violations_name_figure_value_and_budget():
    minimum = parse_budget_option("upload_mb_s=20")
    maximum = parse_budget_option("api_latency_ms_p95=200")
    assert minimum.violated_by(12.5) and not minimum.violated_by(20) and not minimum.violated_by(None)
    assert maximum.violated_by(201) and not maximum.violated_by(200)
    assert minimum.describe_violation(12.5) == ("upload_mb_s = 12.5 MB/s is below its minimum budget of 20 MB/s "
                                                "(--budget upload_mb_s=20)")
    assert "api_latency_ms_p95 = 345 ms is above its maximum budget of 200 ms" in maximum.describe_violation(345)


def test_figures_travel_in_user_properties_and_fail_on_budget():
    node = SimpleNamespace(user_properties=[("criterion", "performance")])
    figures = Figures(node, {"upload_mb_s": parse_budget_option("upload_mb_s=20")})
    figures.record("upload_mb_s", 12.3456)
    figures.record("api_latency_ms_p50", float("nan"))
    figures.samples("api_latency_ms", [1.23456, 2])
    assert (METRIC + "upload_mb_s", 12.346) in node.user_properties
    assert (SAMPLES + "api_latency_ms", [1.235, 2.0]) in node.user_properties
    with pytest.raises(AssertionError, match=r"upload_mb_s = 12.3 MB/s is below its minimum budget of 20 MB/s"):
        figures.check_budgets()
    Figures(node, {}).check_budgets()  # no budgets: figures only inform
    with pytest.raises(ValueError, match="not declared"):
        figures.record("made_up_figure", 1)
    assert collect(node.user_properties) == ({"upload_mb_s": 12.346, "api_latency_ms_p50": None},
                                             {"api_latency_ms": [1.235, 2.0]})


def test_every_declared_figure_has_unit_and_direction():
    for name in ("upload_mb_s", "upload_mb_s_16mib", "s3_download_mb_s_4mib", "proxy_download_efficiency",
                 "registration_s", "model_load_s", "api_latency_ms_p99", "multipart_upload_mb_s", "stack_start_s"):
        unit, direction, meaning = describe(name)
        assert unit and direction in ("min", "max") and meaning
    assert describe("api_latency_ms_p42") is None


# --- from reports to summary.json --------------------------------------------------------

def _report(nodeid, props, when="call"):
    return SimpleNamespace(nodeid=nodeid, user_properties=props, duration=0.5, passed=True, skipped=False,
                           failed=False, when=when, longrepr=None)


def test_results_gather_metrics_into_a_valid_summary():
    jsonschema = pytest.importorskip("jsonschema")
    assert CRITERIA[-1] == "performance"
    results = Results()
    results.add_report(_report("acceptance/test_performance.py::a", [
        ("criterion", "performance"), ("requirement", "MUST"), ("exchanges", []),
        (METRIC + "upload_mb_s", 45.0), (METRIC + "api_latency_ms_p50", None),
        (SAMPLES + "api_latency_ms", [1.0, 2.0, 3.0])]))
    results.add_report(_report("acceptance/test_endpoints.py::b", [("criterion", "endpoints")]))
    assert results.metrics == {"upload_mb_s": 45.0, "api_latency_ms_p50": None}
    assert results.samples == {"api_latency_ms": [1.0, 2.0, 3.0]}
    run = SimpleNamespace(kind="local", target=None, started_at="2026-11-23T00:00:00+00:00", duration_s=1.0,
                          run_id="acc-x", stack_start_s=12.345, error=None, artifact_transfer=None, compatibility=[])
    summary = build_summary(run, results, "3.17.2", "3.17.2")
    assert summary["metrics"] == {"stack_start_s": 12.35, "upload_mb_s": 45.0, "api_latency_ms_p50": None}
    json.dumps(summary, allow_nan=False)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate({**summary, "criteria": {name: {"verdict": "passed", "tests": []} for name in CRITERIA}},
                        schema)


# --- charts ---------------------------------------------------------------------------------

FIGURES = {"upload_mb_s_1mib": 20.1, "upload_mb_s_4mib": 44.4, "upload_mb_s_16mib": 45.0, "upload_mb_s": 45.0,
           "download_mb_s_1mib": 17.2, "download_mb_s_16mib": 88.9, "s3_upload_mb_s_16mib": 134.0,
           "s3_download_mb_s_16mib": 490.0, "api_latency_ms_p50": 15.4, "api_latency_ms_p95": 39.7,
           "api_latency_ms_p99": 166.0, "stack_start_s": 19.1, "registration_s": 0.65}


def _svgs(html: str) -> list[ET.Element]:
    found, start = [], 0
    while (start := html.find("<svg", start)) >= 0:
        end = html.index("</svg>", start) + len("</svg>")
        found.append(ET.fromstring(html[start:end]))
        start = end
    return found


def test_charts_are_inline_well_formed_svg():
    samples = [random.Random(1).lognormvariate(2.7, 0.5) for _ in range(50)]
    budgets = {"upload_mb_s": parse_budget_option("upload_mb_s=50")}
    html = "".join(charts.charts_block({"metrics": {**FIGURES, "model_load_s": None}}, {"api_latency_ms": samples},
                                       budgets))
    svgs = _svgs(html)
    assert len(svgs) == 2
    titles = [svg.get("aria-label") for svg in svgs]
    assert titles == ["Artifact throughput by size (MB/s)", "API latency distribution (50 calls, ms)"]
    bars = [r for r in svgs[0].iter("{http://www.w3.org/2000/svg}rect") if r.find("{*}title") is not None]
    assert len(bars) == 7  # every per-size figure is one bar
    assert "outside budget" in html and "&gt;= 50" in html and "model_load_s" not in html
    assert "<script" not in html and "src=" not in html and "href=" not in html  # self-contained


def test_latency_chart_without_samples_shows_the_percentiles():
    svg = charts.latency_chart([], FIGURES)
    assert "API latency percentiles" in svg and "p99 166.0 ms" in svg
    ET.fromstring(svg)


def test_no_figures_no_charts():
    assert charts.charts_block({"metrics": {}}, {}) == []
    assert charts.throughput_chart({"registration_s": 1.0}) == ""


def test_histogram_and_axis_helpers():
    counts = charts.histogram([0, 1, 2, 9.99, 10], 0, 10, 5)
    assert counts == [2, 1, 0, 0, 2] and sum(counts) == 5
    assert [charts._nice_max(v) for v in (0, 0.7, 3, 19, 47, 166, 490, 501)] == [1, 0.8, 3, 20, 50, 200, 500, 600]
    assert [charts._nice_max(v, integer=True) for v in (0, 1, 3, 5, 27)] == [4, 4, 4, 8, 32]


def test_headline_line():
    line = headline(FIGURES)
    assert line.startswith("upload/download 45/- MB/s") and "API p50/p95/p99 15/40/166 ms" in line
    assert headline({}) == ""


# --- end to end -------------------------------------------------------------------------------

def test_unknown_budget_is_a_usage_error(tmp_path):
    run = run_suite(tmp_path, "-m", "live", "--budget", "uplod_mb_s=20", timeout=120)
    assert run.returncode == 4 and "unknown figure 'uplod_mb_s'" in run.output, run.output[-2000:]
