"""Documented portability failures: the test cases of the interface model, as data.

One JSON file per incident in data/ beside this file, so adding an incident is a local change:
a data file and a regression test. Each names the mechanism that catches it and the keys that
mechanism matches on (a syscall, a CPU level, a runtime), so findings cite incidents without
the mechanisms knowing them by name. Validated when first loaded.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Confidence = Literal["high", "medium", "unconfirmed"]


class IncidentDataError(ValueError):
    """An incident file breaks the schema; names the file and the field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fix(_Frozen):
    what: str = Field(min_length=3, description="the release or change that fixed it")
    confidence: Confidence
    source: str = Field(min_length=3)


class Incident(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]+$")
    title: str = Field(min_length=10)
    mechanism: str = Field(description="the mechanism (rules/) that catches it")
    match: dict[str, str] = Field(
        default_factory=dict, description="keys the mechanism matches findings on"
    )
    image: str = Field(min_length=5, description="the image-side condition")
    host: str = Field(min_length=5, description="the host-side condition")
    symptoms: list[str] = Field(min_length=1, description="messages users saw, verbatim")
    cause: str = Field(min_length=10)
    mitigations_host: list[str] = Field(default_factory=list)
    mitigations_image: list[str] = Field(default_factory=list)
    fixed_in: list[Fix] = Field(default_factory=list)
    sources: list[str] = Field(min_length=1, description="issue threads, release notes, articles")
    regression: str = Field(
        description="how the regression test is built: real artifacts, or profiles and why"
    )


@cache
def load() -> dict[str, Incident]:
    found: dict[str, Incident] = {}
    for entry in sorted(files(__name__).joinpath("data").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            incident = Incident.model_validate_json(entry.read_text(encoding="utf-8"))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()
            )
            raise IncidentDataError(f"incidents/data/{entry.name}: {problems}") from None
        if f"{incident.id}.json" != entry.name:
            raise IncidentDataError(f"incidents/data/{entry.name}: id {incident.id!r} ≠ file name")
        found[incident.id] = incident
    return found


def matching(mechanism: str, **keys: str) -> list[str]:
    """Ids of the incidents of `mechanism` whose match keys all agree with `keys`."""
    return [
        i.id
        for i in load().values()
        if i.mechanism == mechanism and all(keys.get(k) == v for k, v in i.match.items())
    ]


def references(ids: list[str]) -> list[str]:
    """The sources of the given incidents, in order, without repeats."""
    data = load()
    return list(dict.fromkeys(src for i in ids for src in data[i].sources))


def data_version() -> str:
    digest = hashlib.sha256()
    for incident in load().values():
        digest.update(incident.model_dump_json().encode())
    return f"{len(load())}+{digest.hexdigest()[:12]}"
