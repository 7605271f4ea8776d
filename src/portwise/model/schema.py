"""Versioned JSON Schemas of the documents portwise reads and writes."""

from __future__ import annotations

import json

from pydantic import BaseModel

from portwise.errors import UsageError
from portwise.model.host import HOST_SCHEMA_VERSION, HostProfile
from portwise.model.image import IMAGE_SCHEMA_VERSION, ImageProfile
from portwise.model.observation import RUN_SCHEMA_VERSION, RunReport
from portwise.model.verdict import VERDICT_SCHEMA_VERSION, CheckReport

# name -> (model, schema version, what the document is: the schema's title says it)
SCHEMAS: dict[str, tuple[type[BaseModel], str, str]] = {
    "image": (ImageProfile, IMAGE_SCHEMA_VERSION, "profile"),
    "host": (HostProfile, HOST_SCHEMA_VERSION, "profile"),
    "verdict": (CheckReport, VERDICT_SCHEMA_VERSION, "check report"),
    "run": (RunReport, RUN_SCHEMA_VERSION, "test report"),
}


def schema_json(name: str) -> str:
    if name not in SCHEMAS:
        raise UsageError(f"unknown schema {name!r}; known: {', '.join(SCHEMAS)}")
    model, version, kind = SCHEMAS[name]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://portwise.dev/schema/{name}/{version}.json"
    schema["title"] = f"portwise {name} {kind} {version}"
    return json.dumps(schema, indent=2)
