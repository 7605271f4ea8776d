"""JUnit XML for a suite run: one test case per case and per mitigation check.

A run whose outcome was not what the suite expected is a failure whose message says what
differed; every test case carries its probes (outcome, prediction, agreement, stderr's last
line) and what was and was not emulated in ``system-out``, so a CI view shows the evidence.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from portwise.model.observation import RunReport
from portwise.report.junit import _counts, _xml_safe
from portwise.suite.results import RunResult, SuiteReport


def run_text(report: RunReport) -> str:
    lines = [
        f"{report.image} ({report.platform}) under {report.host} on {report.engine}: "
        f"{report.status}"
        + (f" (observed {report.outcome})" if report.status != report.outcome else "")
        + f", predicted {report.predicted}, {report.agreement}"
    ]
    for p in report.probes:
        detail = p.why or (p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "")
        lines.append(
            f"  {p.name}: {p.outcome} (predicted {p.predicted}, {p.agreement})"
            + (f": {detail}" if detail else "")
        )
    lines.extend(f"  emulated: {e}" for e in report.emulated)
    lines.extend(f"  not emulated: {e}" for e in report.not_emulated)
    return _xml_safe("\n".join(lines))


def _testcase(result: RunResult, suite: str) -> ET.Element:
    seconds = sum(p.seconds for p in result.report.probes)
    case = ET.Element(
        "testcase",
        {"classname": _xml_safe(suite), "name": _xml_safe(result.name), "time": f"{seconds:.3f}"},
    )
    header = [f"expected: {result.expected}", f"observed: {result.observed}"]
    if result.known_failures:
        header.append(f"known failures: {', '.join(result.known_failures)}")
    if result.mitigates:
        header.append(f"mitigation of: {result.mitigates}")
    text = _xml_safe("\n".join(header)) + "\n\n" + run_text(result.report)
    if not result.ok:
        failure = ET.SubElement(
            case,
            "failure",
            {"message": _xml_safe("; ".join(result.problems)), "type": "unexpected outcome"},
        )
        failure.text = text
    else:
        ET.SubElement(case, "system-out").text = text
    return case


def to_suite_junit(report: SuiteReport) -> str:
    root = ET.Element("testsuites", {"name": _xml_safe(f"portwise suite {report.suite}")})
    suite = ET.SubElement(root, "testsuite", {"name": _xml_safe(report.suite)})
    failures = sum(not r.ok for r in report.results)
    _counts(suite, len(report.results), failures)
    properties = ET.SubElement(suite, "properties")
    for key, value in (("portwise.suite_file", report.path), ("portwise.engine", report.engine)):
        ET.SubElement(properties, "property", {"name": key, "value": _xml_safe(value)})
    suite.extend(_testcase(r, report.suite) for r in report.results)
    _counts(root, len(report.results), failures)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
