"""Allocators whose page size is fixed when they are compiled, read from jemalloc.json.

jemalloc compiles its page size in (LG_PAGE) and refuses to start on a kernel whose pages are
larger: an arm64 build made on a 4 KiB machine fails on 16 KiB (Raspberry Pi 5, Asahi) and
64 KiB kernels. Which default a release uses, and from which source, is data; validated when
first loaded.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Default(_Frozen):
    versions_below: str | None = None
    from_version: str | None = None
    machines: list[str] = Field(min_length=1, description="portwise machine names, or *")
    lg_page: int | None = Field(description="None: the build machine's page size")
    what: str = Field(min_length=10)
    source: str = Field(pattern=r"^https://")


class Allocator(_Frozen):
    name: str
    packages: list[str]
    library_prefix: str
    symptom: str
    check: dict[str, str]
    defaults: list[Default] = Field(min_length=1)
    mitigation: str
    mitigation_source: str = Field(pattern=r"^https://")


@cache
def jemalloc() -> Allocator:
    text = files(__name__).joinpath("jemalloc.json").read_text(encoding="utf-8")
    return Allocator.model_validate_json(text)


def _key(version: str) -> tuple[int, ...]:
    return tuple(
        int(p) for p in re.findall(r"\d+", version.split(":")[-1].split("-")[0].split("+")[0])
    )


def default_page(version: str | None, machine: str) -> tuple[int | None, Default | None]:
    """The compile-time page size a stock build of this release has on `machine`, or None with
    the rule that says it depends on the build machine (None, None: version unknown)."""
    if version is None:
        return None, None
    for rule in jemalloc().defaults:
        if "*" not in rule.machines and machine not in rule.machines:
            continue
        if rule.from_version and _key(version) >= _key(rule.from_version):
            return (1 << rule.lg_page if rule.lg_page else None), rule
        if rule.versions_below and _key(version) < _key(rule.versions_below):
            return None, rule
    return None, None
