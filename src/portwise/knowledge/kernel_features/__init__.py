"""Kernel features a host can have switched off, and what a call then answers (features.json).

Each feature lists the system calls that reach it and the switches that turn it off: a kernel
built without an option (the calls answer ENOSYS), a sysctl (EPERM to unprivileged callers), or
an LSM left out of the boot-time list (Landlock answers EOPNOTSUPP). Every switch carries the
kernel documentation or source it was read from, at the tag the file names.
"""

from __future__ import annotations

import errno as errno_codes
from functools import cache
from typing import Literal, Self

from pydantic import Field, model_validator

from portwise.knowledge.indexed import Frozen, Indexed, Source, load_indexed


class Option(Frozen):
    """A kernel config option; built as y (or m) it provides the feature."""

    name: str = Field(pattern=r"^CONFIG_[A-Z0-9_]+$")
    since: str | None = Field(
        None,
        pattern=r"^\d+\.\d+$",
        description="first release with the option: on older kernels its absence says nothing",
    )


class Switch(Frozen):
    kind: Literal["config", "sysctl", "lsm"]
    name: str = Field(description="the option, sysctl or LSM an administrator changes")
    options: tuple[Option, ...] = Field(
        (), description="config: the feature is built when any of these is y or m"
    )
    off_values: tuple[str, ...] = Field((), description="sysctl: values that switch it off")
    errno: str = Field(description="what the calls answer while it is off")
    since: str | None = Field(None, pattern=r"^\d+\.\d+$", description="first release with it")
    until: str | None = Field(
        None, pattern=r"^\d+\.\d+$", description="first release where it behaves otherwise"
    )
    syscalls: tuple[str, ...] = Field((), description="the calls it refuses, if not all")
    unless: str | None = Field(None, description="how a container may still get the feature")
    conditional: bool = Field(
        False, description="True: a default container may still get it (the break is not sure)"
    )
    fix: str = Field(min_length=5)
    source: Source

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if not isinstance(getattr(errno_codes, self.errno, None), int):
            raise ValueError(f"{self.name}: unknown errno {self.errno}")
        if self.kind == "config" and not self.options:
            raise ValueError(f"{self.name}: a config switch names its options")
        if self.kind == "sysctl" and not self.off_values:
            raise ValueError(f"{self.name}: a sysctl switch names the values that switch it off")
        return self

    @property
    def code(self) -> int:
        return int(getattr(errno_codes, self.errno))


class Feature(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    syscalls: tuple[str, ...] = Field(min_length=1)
    effect: str = Field(min_length=10, description="what breaks when the calls fail")
    switches: tuple[Switch, ...] = Field(
        min_length=1, description="in the order the kernel checks them: config first"
    )

    @model_validator(mode="after")
    def _subsets(self) -> Self:
        for switch in self.switches:
            if not set(switch.syscalls) <= set(self.syscalls):
                raise ValueError(f"{self.id}: {switch.name} refuses calls the feature lacks")
        return self

    def refused(self, switch: Switch) -> tuple[str, ...]:
        return switch.syscalls or self.syscalls


class FeatureData(Frozen):
    model_version: int
    read_at: str = Field(description="the kernel tag the documentation and source were read at")
    features: tuple[Feature, ...] = Field(min_length=1)


@cache
def _loaded() -> Indexed[FeatureData, Feature]:
    return load_indexed(
        __name__,
        "features.json",
        FeatureData,
        lambda m: m.features,
        lambda f: [("syscall", name) for name in f.syscalls],
    )


def features() -> tuple[Feature, ...]:
    return _loaded().model.features


def for_syscall(syscall: str) -> tuple[Feature, ...]:
    return _loaded().index.get(("syscall", syscall), ())


def syscalls() -> frozenset[str]:
    return frozenset(name for _, name in _loaded().index)


def version() -> str:
    return _loaded().version()
