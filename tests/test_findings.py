"""Findings policy: what fails, what warns, accepted risks with expiry, and the findings in summary.json."""

from __future__ import annotations

import datetime as dt

import pytest

from fixtures.findings import AcceptedRisk, Finding, FindingLog, Policy, PolicyError, load_accepted, ordered
from fixtures.report.results import Results
from fixtures.report.summary import finding_entry
from fixtures.diagnosis import security_lines
from fixtures.security_findings import CLASSES

TODAY = dt.date(2026, 12, 4)


def found(severity="medium", proof="demonstrated", cls="dns-rebinding", probe="foreign") -> Finding:
    return Finding(cls, probe, severity, proof, "GET /x -> 200 '{}': Host x.invalid was served")


@pytest.mark.parametrize("severity, proof, fail_on, status", [
    ("medium", "demonstrated", "medium", "failing"), ("high", "demonstrated", "medium", "failing"),
    ("low", "demonstrated", "medium", "warning"), ("low", "demonstrated", "low", "failing"),
    ("critical", "indicated", "info", "warning"),  # a suspicious answer alone never fails
    ("high", "demonstrated", "critical", "warning"),
])
def test_status_follows_proof_and_the_fail_on_line(severity, proof, fail_on, status):
    assert Policy(fail_on=fail_on, today=TODAY).judge(found(severity, proof)).status == status


def test_accepted_risk_matches_by_id_or_glob_until_it_expires():
    policy = Policy(accepted=[AcceptedRisk("dns-rebinding/*", "internal network only", dt.date(2026, 12, 31))],
                    today=TODAY)
    accepted = policy.judge(found())
    assert accepted.status == "accepted" and "internal network only" in accepted.note and "2026-12-31" in accepted.note
    assert policy.judge(found(cls="credential-leak", probe="echo")).status == "failing"
    expired = Policy(accepted=policy.accepted, today=dt.date(2027, 1, 1)).judge(found())
    assert expired.status == "failing" and "expired" in expired.note


def test_accepted_risks_file(tmp_path):
    path = tmp_path / "accepted.toml"
    path.write_text('[[accept]]\nid = "dns-rebinding/foreign"\nreason = "behind VPN"\nexpires = 2027-01-31\n\n'
                    '[[accept]]\nid = "path-disclosure/*"\nreason = "known, ticket OPS-1"\n')
    risks = load_accepted(path)
    assert risks == [AcceptedRisk("dns-rebinding/foreign", "behind VPN", dt.date(2027, 1, 31)),
                     AcceptedRisk("path-disclosure/*", "known, ticket OPS-1", None)]


@pytest.mark.parametrize("text, error", [
    ("[[accept]]\nreason = 'x'\n", "needs an 'id'"),
    ("[[accept]]\nid = 'a/b'\n", "needs a 'reason'"),
    ("[[accept]]\nid = 'a/b'\nreason = 'x'\nexpires = 'soon'\n", "must be a date"),
    ("accept = 3\n", "array of tables"),
    ("[[accept]\n", "not valid TOML"),
])
def test_bad_accepted_risks_file_is_one_line(tmp_path, text, error):
    path = tmp_path / "accepted.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=error) as raised:
        load_accepted(path)
    assert "\n" not in str(raised.value)


def test_missing_accepted_risks_file_is_one_line(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_accepted(tmp_path / "absent.toml")


def test_log_fails_only_on_failing_findings():
    log = FindingLog(Policy(today=TODAY))
    log.add("path-disclosure", "graphql", severity="low", proof="demonstrated", evidence="POST /graphql -> 500")
    assert not log.failing
    log.add("auth-gap", "tracking-read", severity="high", proof="demonstrated", evidence="GET /x -> 200")
    assert [f.id for f in log.failing] == ["auth-gap/tracking-read"]
    assert log.failure_message().startswith("finding[auth-gap]: GET /x -> 200")


def test_findings_cross_reports_and_land_in_the_summary_with_fix_and_cves():
    finding = Policy(today=TODAY).judge(found())

    class Report:  # what a report from an xdist worker carries
        nodeid, when, passed, skipped, duration = "acceptance/test_security.py::t", "call", False, False, 0.1
        user_properties = [("criterion", "security"), ("finding", finding.to_dict())]
        longrepr = None

    results = Results()
    results.add_report(Report())
    assert [f.id for f in results.findings] == ["dns-rebinding/foreign"]
    entry = finding_entry(results.findings[0])
    assert entry["class"] == "dns-rebinding" and entry["status"] == "failing"
    assert entry["fix"] == CLASSES["dns-rebinding"].fix and entry["cves"] == ["CVE-2025-14279"]


def test_order_failing_first_then_by_severity():
    policy = Policy(today=TODAY)
    findings = [policy.judge(found("info", "indicated", probe="a")), policy.judge(found("high", probe="b")),
                policy.judge(found("low", probe="c"))]
    assert [f.probe for f in ordered(findings)] == ["b", "c", "a"]


def test_diagnosis_names_each_failing_class_once_with_its_fix_and_server_version():
    policy = Policy(today=TODAY)
    findings = [policy.judge(found(probe="a")), policy.judge(found(probe="b")),
                policy.judge(found("info", "indicated", probe="c"))]
    lines = security_lines(findings, "3.4.0")
    assert len(lines) == 1 and "(+1 similar)" in lines[0] and "allowed-hosts" in lines[0]
    assert "older than the fix of CVE-2025-14279" in lines[0]
