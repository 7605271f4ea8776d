"""The mechanisms that judge an image on a host, declared in one explicit list.

Order is the order findings are reported in: the failures that stop a container from starting
at all (architecture, kernel, seccomp, CPU) before the ones that break it later.
"""

from __future__ import annotations

from typing import Any

from portwise.rules import (
    arch,
    cgroups,
    cpu,
    features,
    fips,
    gpu,
    hostconfig,
    kernel,
    network,
    pagesize,
    seccomp,
    vsyscall,
)
from portwise.rules.base import Mechanism

MECHANISMS: tuple[Mechanism[Any, Any], ...] = (
    arch.MECHANISM,
    kernel.MECHANISM,
    seccomp.MECHANISM,
    features.MECHANISM,
    cpu.MECHANISM,
    pagesize.MECHANISM,
    vsyscall.MECHANISM,
    cgroups.MECHANISM,
    fips.MECHANISM,
    gpu.MECHANISM,
    network.MECHANISM,
    hostconfig.MECHANISM,
)


def mechanism(mechanism_id: str) -> Mechanism[Any, Any]:
    for m in MECHANISMS:
        if m.id == mechanism_id:
            return m
    raise KeyError(mechanism_id)
