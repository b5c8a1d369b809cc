"""Verdict rules: the status model that separates 'the registry failed' from 'could not judge'."""

from fixtures.report.results import CheckResult, criterion_verdict, overall_verdict


def check(outcome, message=""):
    return CheckResult("acceptance/x.py::t", "endpoints", outcome=outcome, message=message)


def test_criterion_verdicts():
    assert criterion_verdict([check("passed"), check("skipped", "n/a")]) == "passed"
    assert criterion_verdict([check("passed"), check("failed")]) == "failed"
    assert criterion_verdict([check("error")]) == "failed"
    assert criterion_verdict([check("skipped", "no credentials")]) == "skipped"
    assert criterion_verdict([check("skipped", "blocked: needs x")]) == "error"
    assert criterion_verdict([]) == "error"


def test_overall_verdict():
    assert overall_verdict({"a": "passed", "b": "skipped"}) == "passed"
    assert overall_verdict({"a": "failed", "b": "error"}) == "failed"
    assert overall_verdict({"a": "passed", "b": "error"}) == "error"
