"""JUnit XML for CI test views: each image is a test suite, each host it must run on a test case.

Suites are per image (and platform) because a CI pipeline builds and gates an image: its test
view should read "app:1.0 - 12 hosts, 1 failed", the way a unit's tests read. A fleet view per
host is the matrix report's job, not JUnit's.

Jenkins and GitLab show a test case as failed, skipped or passed, and print ``system-out`` of
any case. RISK means "not proven to run", not "not run", so it is not ``skipped`` (which CI
views hide as noise): by default it passes with its findings in ``system-out``, and with
``fail_on="risk"`` it fails like a FAIL does, matching the CLI's ``--fail-on risk`` exit code.
Nothing here depends on time or on this machine, so the same report gives the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Literal

from portwise.model.verdict import CheckReport, Finding, Verdict
from portwise.report.verdicts import finding_parts

FailOn = Literal["fail", "risk"]
SEVERITY_RANK = {"fail": 0, "risk": 1, "info": 2}
# Characters XML 1.0 cannot carry at all; a binary's name read off an image may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def finding_text(finding: Finding) -> str:
    """A finding as plain text lines, the same fields the terminal prints."""
    lines = [f"[{finding.severity}] {finding.id}: {finding.title}", f"  why: {finding.explanation}"]
    for label, items in finding_parts(finding):
        if items:
            lines.append(f"  {label}:")
            lines.extend(f"    - {item}" for item in items)
    return _xml_safe("\n".join(lines))


def _failing(verdict: Verdict, fail_on: FailOn) -> bool:
    return verdict.status == "FAIL" or (verdict.status == "RISK" and fail_on == "risk")


def _testcase(verdict: Verdict, suite_name: str, fail_on: FailOn) -> ET.Element:
    case = ET.Element("testcase", {"classname": suite_name, "name": _xml_safe(verdict.host)})
    findings = sorted(verdict.findings, key=lambda f: SEVERITY_RANK[f.severity])
    if not findings:
        return case
    text = "\n\n".join(finding_text(f) for f in findings)
    if _failing(verdict, fail_on):
        decisive = [f for f in findings if f.severity != "info"]
        message = _xml_safe(f"{verdict.status}: " + "; ".join(f.title for f in decisive))
        failure = ET.SubElement(case, "failure", {"message": message, "type": verdict.status})
        failure.text = text
    else:
        ET.SubElement(case, "system-out").text = f"{verdict.status}\n\n{text}"
    return case


def _counts(element: ET.Element, tests: int, failures: int) -> None:
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", "0")
    element.set("skipped", "0")


def to_junit(report: CheckReport, *, fail_on: FailOn = "fail") -> str:
    """The report as a ``<testsuites>`` document; suites in first-seen order of the images."""
    suites: dict[str, list[Verdict]] = {}
    for verdict in report.verdicts:
        name = _xml_safe(f"{verdict.image} ({verdict.platform})")
        suites.setdefault(name, []).append(verdict)
    root = ET.Element("testsuites", {"name": f"portwise {report.portwise_version} check"})
    total_tests = total_failures = 0
    for name, verdicts in suites.items():
        suite = ET.SubElement(root, "testsuite", {"name": name})
        failures = sum(_failing(v, fail_on) for v in verdicts)
        _counts(suite, len(verdicts), failures)
        properties = ET.SubElement(suite, "properties")
        for key, value in (
            ("portwise.version", report.portwise_version),
            ("portwise.schema_version", report.schema_version),
            ("portwise.fail_on", fail_on),
            *((f"knowledge.{k}", v) for k, v in sorted(report.knowledge.items())),
        ):
            ET.SubElement(properties, "property", {"name": key, "value": value})
        suite.extend(_testcase(v, name, fail_on) for v in verdicts)
        total_tests += len(verdicts)
        total_failures += failures
    _counts(root, total_tests, total_failures)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
