"""`portwise schema verdict`: the JSON Schema accepts real reports and refuses bad ones."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from portwise.model.schema import SCHEMAS, schema_json
from portwise.model.verdict import VERDICT_SCHEMA_VERSION, CheckReport


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(schema_json("verdict"))
    return document


def test_registered_and_versioned(schema: dict[str, Any]) -> None:
    assert "verdict" in SCHEMAS
    assert schema["$id"].endswith(f"/verdict/{VERDICT_SCHEMA_VERSION}.json")
    assert schema["title"] == f"portwise verdict check report {VERDICT_SCHEMA_VERSION}"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_real_report_validates(report: CheckReport, schema: dict[str, Any]) -> None:
    dump = json.loads(report.model_dump_json())
    jsonschema.validate(dump, schema, cls=jsonschema.Draft202012Validator)
    assert dump["schema_version"] == VERDICT_SCHEMA_VERSION


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("verdicts", 0, "status"), "MAYBE"),
        (("verdicts", 2, "findings", 1, "severity"), "fatal"),
        (("verdicts", 2, "findings", 1, "evidence", "kernel"), ["6.1"]),  # unknown key
    ],
)
def test_bad_reports_are_refused(
    report: CheckReport, schema: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    dump = json.loads(report.model_dump_json())
    node = dump
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dump, schema, cls=jsonschema.Draft202012Validator)
