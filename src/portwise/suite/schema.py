"""The suite file's schema: what a reader may write, checked field by field (extra keys refused).

Cross-references (an image or host a case names, a probe an expectation names, an incident a
reference names) are checked by load.py, which knows the file's lines.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Expect = Literal["pass", "fail"]
ProbeExpect = Literal["pass", "fail", "skipped", "timeout"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SMOKE = "smoke"
Scalar = str | int | float | bool | list[str]


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HostSpec(Strict):
    base: str = Field(min_length=1, description="a catalog name, a HostProfile JSON file or local")
    override: dict[str, Scalar] = Field(
        default_factory=dict, description="host facts by dotted path (suite/overrides.py)"
    )


class Mitigation(Strict):
    description: str | None = None
    override: dict[str, Scalar] = Field(
        default_factory=dict, description="facts to change on the case's host"
    )
    host: str | None = Field(None, description="run on this suite host instead")
    image: str | None = Field(None, description="run this suite image instead")
    verify: bool = Field(False, description="rerun the case mitigated; it must pass")

    @model_validator(mode="after")
    def _something(self) -> Mitigation:
        if not (self.override or self.host or self.image):
            raise ValueError("a mitigation needs an override, a host or an image")
        if self.override and self.host:
            raise ValueError("give an override of the case's host or another host, not both")
        return self


class KnownFailure(Strict):
    id: str = Field(pattern=NAME)
    probe: str | None = Field(None, description="the probe that shows it (default: the case)")
    description: str = Field(min_length=3)
    references: list[str] = Field(
        default_factory=list, description="URLs, or ids of incidents in knowledge/incidents"
    )
    mitigation: Mitigation | None = None


class ProbeDef(Strict):
    """A named probe that says what it exercises, so the run is compared with the verdict."""

    command: str = Field(min_length=1)
    exercises: list[str] = Field(
        default_factory=list,
        description="finding subjects: syscall names (clone3), static-glibc, isa:x86-64-v3",
    )


class Case(Strict):
    name: str = Field(pattern=NAME)
    image: list[str] = Field(min_length=1, description="suite image names (one or a list)")
    host: list[str] = Field(min_length=1, description="suite host names (one or a list)")
    probes: str | list[str] | dict[str, str | ProbeDef] = Field(
        SMOKE, description="smoke (the smoke probes and the entrypoint), commands, or name: command"
    )
    entrypoint_args: list[str] | None = None
    timeout: float = Field(30.0, gt=0, description="seconds each probe may run")
    expect: Expect | None = Field(
        None, description="the run's overall outcome (default: fail with known failures, or pass)"
    )
    expect_probes: dict[str, ProbeExpect] = Field(default_factory=dict)
    allow_disagreement: bool = Field(
        False, description="do not count a disagreement with portwise check as unexpected"
    )
    known_failures: list[KnownFailure] = Field(default_factory=list)

    @field_validator("image", "host", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("probes", mode="before")
    @classmethod
    def _probes(cls, value: Any) -> Any:
        if value == SMOKE:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return value
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(k, str) and re.match(NAME, k) for k in value)
            and all((isinstance(v, str) and v) or isinstance(v, dict) for v in value.values())
        ):
            for name, v in value.items():
                if isinstance(v, dict):
                    extra = sorted(set(v) - set(ProbeDef.model_fields))
                    if extra or not isinstance(v.get("command"), str):
                        raise ValueError(
                            f"probe {name!r} takes command: (a string) and exercises: (a list); "
                            f"got {', '.join(map(str, v)) or 'nothing'}"
                        )
            return value
        raise ValueError(
            "probes is `smoke`, a list of commands, or a mapping of probe names to commands "
            "(or to {command: ..., exercises: [...]})"
        )


class SuiteFile(Strict):
    suite: str | None = Field(None, description="the suite's name (default: the file's stem)")
    description: str | None = None
    images: dict[str, str] = Field(min_length=1, description="name -> image reference")
    hosts: dict[str, HostSpec] = Field(min_length=1)
    cases: list[Case] = Field(min_length=1)

    @field_validator("hosts", mode="before")
    @classmethod
    def _host_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"base": v} if isinstance(v, str) else v for k, v in value.items()}
        return value
