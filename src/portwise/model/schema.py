"""Versioned JSON Schemas of the documents portwise reads and writes."""

from __future__ import annotations

import json

from pydantic import BaseModel

from portwise.errors import UsageError
from portwise.model.host import HOST_SCHEMA_VERSION, HostProfile
from portwise.model.image import IMAGE_SCHEMA_VERSION, ImageProfile

SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "image": (ImageProfile, IMAGE_SCHEMA_VERSION),
    "host": (HostProfile, HOST_SCHEMA_VERSION),
}


def schema_json(name: str) -> str:
    if name not in SCHEMAS:
        raise UsageError(f"unknown schema {name!r}; known: {', '.join(SCHEMAS)}")
    model, version = SCHEMAS[name]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://portwise.dev/schema/{name}/{version}.json"
    schema["title"] = f"portwise {name} profile {version}"
    return json.dumps(schema, indent=2)
