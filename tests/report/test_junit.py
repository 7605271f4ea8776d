"""JUnit XML: one suite per image, one case per host, counts that CI views can trust."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from portwise.model.verdict import CheckReport, Finding, Verdict
from portwise.report.junit import to_junit

IMAGE = "oci:./layout:trixie (linux/amd64)"  # suite names as built from conftest.py's report
ARM = "docker-archive:esbuild-arm64.tar (linux/arm64)"


def parse(text: str) -> ET.Element:
    assert text.startswith("<?xml")
    return ET.fromstring(text)


def cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def assert_counts_consistent(root: ET.Element) -> None:
    """The attributes Jenkins and GitLab read agree with the elements they summarise."""
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        testcases = suite.findall("testcase")
        counted = {
            "tests": len(testcases),
            "failures": sum(c.find("failure") is not None for c in testcases),
            "errors": sum(c.find("error") is not None for c in testcases),
            "skipped": sum(c.find("skipped") is not None for c in testcases),
        }
        for key, value in counted.items():
            assert suite.get(key) == str(value), (suite.get("name"), key)
            totals[key] += value
        for case in testcases:
            assert case.get("name") and case.get("classname") == suite.get("name")
    for key, value in totals.items():
        assert root.get(key) == str(value), key


def test_default_fails_only_fail(report: CheckReport) -> None:
    root = parse(to_junit(report))
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.findall("testsuite")] == [IMAGE, ARM]
    assert_counts_consistent(root)
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    by_case = cases(root)
    failure = by_case[IMAGE, "ubuntu-20.04-docker-20.10.9"].find("failure")
    assert failure is not None and failure.get("type") == "FAIL"
    assert failure.get("message", "").startswith("FAIL: clone3 is refused with EPERM")
    assert "binaries need kernel" not in failure.get("message", "")  # info is not why it fails
    body = failure.text or ""
    assert "docker 20.10.9 default seccomp profile: clone3 -> SCMP_ACT_ERRNO(EPERM)" in body
    assert "upgrade docker to 20.10.10 or later" in body
    assert "clone3-eperm-docker-20.10.9" in body
    # RISK passes, with its findings and the unknown fact where CI shows them.
    risk = by_case[IMAGE, "custom-arm-node"]
    assert risk.find("failure") is None and risk.find("skipped") is None
    out = risk.findtext("system-out") or ""
    assert out.startswith("RISK") and "host.kernel.page_size" in out
    passing = by_case[IMAGE, "debian-12-podman-4.3"]
    assert passing.find("failure") is None


def test_fail_on_risk_fails_risk_pairs(report: CheckReport) -> None:
    root = parse(to_junit(report, fail_on="risk"))
    assert_counts_consistent(root)
    assert root.get("failures") == "3"
    failure = cases(root)[IMAGE, "custom-arm-node"].find("failure")
    assert failure is not None and failure.get("type") == "RISK"
    assert "host.kernel.page_size" in (failure.text or "")
    assert cases(root)[IMAGE, "debian-12-podman-4.3"].find("failure") is None


def test_deterministic(report: CheckReport) -> None:
    again = CheckReport.model_validate_json(report.model_dump_json())
    assert to_junit(report) == to_junit(again)


def test_characters_xml_cannot_carry_do_not_break_the_document() -> None:
    odd = Finding(
        id="elf.odd-name",
        mechanism="elf",
        severity="fail",
        title="binary /opt/a\x01b <needs> & more",
        explanation="a name read off an image holds a control character",
    )
    report = CheckReport(
        portwise_version="0.1.0",
        knowledge={},
        verdicts=[
            Verdict(
                image="img\x02",
                platform="linux/amd64",
                host="h",
                status="FAIL",
                findings=[odd],
                mechanisms=["elf"],
            )
        ],
    )
    root = parse(to_junit(report))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert "<needs> & more" in failure.get("message", "")
    assert "\x01" not in (failure.text or "")


def test_empty_report() -> None:
    root = parse(to_junit(CheckReport(portwise_version="0.1.0", knowledge={}, verdicts=[])))
    assert (root.get("tests"), root.get("failures")) == ("0", "0")
