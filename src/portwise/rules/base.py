"""The contract every mechanism keeps: facts in, findings out, nothing else.

A mechanism reduces each side to the few facts it reads (`needs` of the image, `offers` of the
host), both hashable, and `judge` is a pure function of the two. That split is what keeps a
fleet matrix cheap: pairs that present the same interface to a mechanism are judged once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from portwise.model.host import Fact
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding, Severity

N = TypeVar("N", bound=Hashable)
H = TypeVar("H", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Mechanism(Generic[N, H]):
    id: str
    title: str
    doc: str  # what breaks, why, and how portwise judges it: printed by `portwise explain`
    needs: Callable[[ImageProfile], N]
    offers: Callable[[Any], H]  # HostProfile -> O (Any keeps the registry's tuple homogeneous)
    judge: Callable[[N, H], tuple[Finding, ...]]
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Known(Generic[N]):
    """A host fact reduced for judging: the value, or why it is unknown, and where it came from."""

    value: N | None
    source: str | None
    unknown: str | None

    @property
    def is_known(self) -> bool:
        return self.value is not None


def known(fact: Fact[Any], convert: Callable[[Any], Any] | None = None) -> Known[Any]:
    """A hashable copy of a Fact (lists become tuples, dicts become sorted tuples)."""
    value = fact.value
    if value is not None and convert is not None:
        value = convert(value)
    elif isinstance(value, list):
        value = tuple(value)
    elif isinstance(value, dict):
        value = tuple(sorted(value.items()))
    return Known(value, fact.source, fact.unknown if value is None else None)


def host_evidence(label: str, fact: Known[Any]) -> str:
    """`kernel page size 65536 (from /proc/self/auxv)` or `... unknown: reason`."""
    if fact.value is None:
        return f"{label} unknown: {fact.unknown or 'not recorded'}"
    shown = ", ".join(map(str, fact.value)) if isinstance(fact.value, tuple) else fact.value
    return f"{label} {shown}" + (f" (from {fact.source})" if fact.source else "")


def unknown_fact(
    mechanism: str,
    case: str,
    *,
    fact: str,
    fact_value: Known[Any],
    why_needed: str,
    image_evidence: Sequence[str] = (),
    incidents: Sequence[str] = (),
    references: Sequence[str] = (),
    severity: Severity = "risk",
) -> Finding:
    """No false PASS: the image needs something the host may lack, and the host fact is unknown."""
    return Finding(
        id=f"{mechanism}.{case}",
        mechanism=mechanism,
        severity=severity,
        title=f"unknown host fact: {fact}",
        explanation=(
            f"{why_needed} The host profile does not record {fact}"
            f" ({fact_value.unknown or 'not recorded'}), so portwise cannot say it will run."
        ),
        evidence=Evidence(image=list(image_evidence), host=[host_evidence(fact, fact_value)]),
        mitigations_host=[f"record {fact} in the host profile (run `portwise host` on the node)"],
        unknown=[fact],
        incidents=list(incidents),
        references=list(references),
    )
