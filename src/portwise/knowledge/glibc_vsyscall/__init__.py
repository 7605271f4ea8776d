"""Which glibc releases call the legacy x86-64 vsyscall page, read from vsyscall.json.

A kernel booted with vsyscall=none (or built with LEGACY_VSYSCALL_NONE) has no page at
0xffffffffff600000, so a glibc that jumps there kills its process with SIGSEGV. Each boundary
cites the glibc commit that moved the call off the page; validated when first loaded.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field

from portwise.versions import version_key

_VERSION = r"^\d+\.\d+$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Boundary(_Frozen):
    first_without: str = Field(pattern=_VERSION)
    what: str = Field(min_length=10)
    source: str = Field(pattern=r"^https://")


class Advice(_Frozen):
    what: str = Field(min_length=10)
    source: str = Field(pattern=r"^https://")


class VsyscallKnowledge(_Frozen):
    description: str
    dynamic: Boundary
    static: Boundary
    kernel_advice: Advice
    removed_entirely: Boundary


@cache
def load() -> VsyscallKnowledge:
    text = files(__name__).joinpath("vsyscall.json").read_text(encoding="utf-8")
    return VsyscallKnowledge.model_validate_json(text)


def calls_vsyscall(glibc_version: str, *, static: bool = False) -> bool:
    """True when this x86-64 glibc release jumps to the vsyscall page (dynamic libc.so, or a
    program statically linked with it)."""
    boundary = load().static if static else load().dynamic
    return version_key(glibc_version) < version_key(boundary.first_without)
