"""Language-runtime and init knowledge: which versions of the JVM, systemd, musl and rpm behave
differently in a container, each threshold with the source it was read from.

The data lives in runtimes.json beside this file and is validated when first used.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Confidence = Literal["high", "medium", "unconfirmed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sourced(_Frozen):
    confidence: Confidence
    source: str = Field(pattern=r"^https://")
    note: str = Field(min_length=10)
    also: tuple[str, ...] = ()


class JvmRelease(Sourced):
    feature: int = Field(ge=8, description="JDK feature release (8, 11, 15...)")
    first_aware_update: int = Field(ge=0, description="first update that reads cgroup v2")


class FirstVersion(Sourced):
    first_version: int


class FirstRelease(Sourced):
    first_version: str = Field(pattern=r"^\d+(\.\d+)*$")


class FirstFixed(Sourced):
    first_fixed: str = Field(pattern=r"^\d+(\.\d+)*$")


class Threshold(Sourced):
    threshold: int = Field(gt=0)


class RuntimeKnowledge(_Frozen):
    jvm_cgroup_v2: tuple[JvmRelease, ...] = Field(min_length=1)
    systemd_cgroup_v2: FirstVersion
    musl_dns_tcp: FirstRelease
    rpm_close_all_fds: FirstFixed
    huge_nofile: Threshold


@cache
def load() -> RuntimeKnowledge:
    text = files(__name__).joinpath("runtimes.json").read_text(encoding="utf-8")
    return RuntimeKnowledge.model_validate_json(text)


def jvm_reads_cgroup_v2(feature: int, update: int) -> tuple[bool, JvmRelease]:
    """Whether JDK `feature` update `update` sizes itself from cgroup v2, and the rule used.

    Feature releases between the listed ones (9, 10, 12-14) got no backport: only a listed
    feature, or any feature at or above the newest listed one, can be aware.
    """
    rules = sorted(load().jvm_cgroup_v2, key=lambda r: r.feature)
    newest = rules[-1]
    if feature >= newest.feature:
        return True, newest
    for rule in rules:
        if rule.feature == feature:
            return update >= rule.first_aware_update, rule
    following = next(r for r in rules if r.feature > feature)
    return False, following
