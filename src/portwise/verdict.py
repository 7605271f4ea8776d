"""Judge images on hosts: every mechanism over every pair, each distinct interface judged once.

Images are reduced to what each mechanism needs and hosts to what each offers; pairs whose
reductions are equal share one judgement. A fleet of variants of a few real hosts therefore
costs little more than the few real hosts (bench/check_speed.py measures it).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding, Status, Verdict, status_of
from portwise.rules import MECHANISMS
from portwise.rules.base import Mechanism

Key = tuple[Hashable, ...]


def _crashed(mechanism: Mechanism[Any, Any], stage: str, exc: Exception) -> Finding:
    """A mechanism that raises is a portwise bug; the pair is then unknown, never PASS."""
    return Finding(
        id=f"{mechanism.id}.internal-error",
        mechanism=mechanism.id,
        severity="risk",
        title=f"{mechanism.title}: not judged ({stage} failed)",
        explanation=f"portwise could not judge this ({type(exc).__name__}: {exc}): a bug.",
        evidence=Evidence(),
        unknown=[f"{mechanism.id} {stage}"],
    )


@dataclass(frozen=True, eq=False)
class _Crash:
    """A side whose reduction raised; hashed by identity, as its finding holds lists."""

    finding: Finding


def _reduce(mechanisms: Sequence[Mechanism[Any, Any]], side: str, item: Any) -> Key:
    keys: list[Hashable] = []
    for m in mechanisms:
        try:
            keys.append(m.needs(item) if side == "needs" else m.offers(item))
        except Exception as exc:  # a finding, see _crashed
            keys.append(_Crash(_crashed(m, side, exc)))
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class Matrix:
    """Results for images x hosts, stored per distinct (image interface, host interface)."""

    images: Sequence[ImageProfile]
    hosts: Sequence[HostProfile]
    image_group: list[int]  # image index -> group
    host_group: list[int]
    results: dict[tuple[int, int], tuple[Status, tuple[Finding, ...]]]
    mechanisms: tuple[str, ...]

    def status(self, image: int, host: int) -> Status:
        return self.results[self.image_group[image], self.host_group[host]][0]

    def verdict(self, image: int, host: int) -> Verdict:
        status, findings = self.results[self.image_group[image], self.host_group[host]]
        profile = self.images[image]
        return Verdict(
            image=profile.reference,
            platform=str(profile.platform),
            host=self.hosts[host].name,
            status=status,
            findings=list(findings),
            mechanisms=list(self.mechanisms),
        )

    def verdicts(self) -> list[Verdict]:
        return [self.verdict(i, h) for i in range(len(self.images)) for h in range(len(self.hosts))]


def _group(keys: list[Key]) -> tuple[list[int], list[Key]]:
    index: dict[Key, int] = {}
    groups = [index.setdefault(k, len(index)) for k in keys]
    return groups, list(index)


def check(
    images: Sequence[ImageProfile],
    hosts: Sequence[HostProfile],
    mechanisms: Sequence[Mechanism[Any, Any]] = MECHANISMS,
) -> Matrix:
    image_group, image_keys = _group([_reduce(mechanisms, "needs", i) for i in images])
    host_group, host_keys = _group([_reduce(mechanisms, "offers", h) for h in hosts])
    # Per mechanism, each distinct reduction gets a small number once, so the memo below is
    # keyed by ints: hashing a large reduction (an image's syscall uses) for every pair of
    # groups cost more than judging.
    need_ids = [_numbered(column) for column in zip(*image_keys, strict=True)] if image_keys else []
    offer_ids = [_numbered(column) for column in zip(*host_keys, strict=True)] if host_keys else []
    memo: list[dict[tuple[int, int], tuple[Finding, ...]]] = [{} for _ in mechanisms]
    results: dict[tuple[int, int], tuple[Status, tuple[Finding, ...]]] = {}
    for gi, need_key in enumerate(image_keys):
        for gh, offer_key in enumerate(host_keys):
            findings: list[Finding] = []
            for k, m in enumerate(mechanisms):
                pair = (need_ids[k][gi], offer_ids[k][gh])
                found = memo[k].get(pair)
                if found is None:
                    found = memo[k][pair] = _judged(m, need_key[k], offer_key[k])
                findings.extend(found)
            results[gi, gh] = (status_of(findings), tuple(findings))
    return Matrix(images, hosts, image_group, host_group, results, tuple(m.id for m in mechanisms))


def _numbered(column: tuple[Hashable, ...]) -> list[int]:
    index: dict[Hashable, int] = {}
    return [index.setdefault(value, len(index)) for value in column]


def _judged(m: Mechanism[Any, Any], need: Hashable, offer: Hashable) -> tuple[Finding, ...]:
    for side in (need, offer):
        if isinstance(side, _Crash):  # reducing this side crashed
            return (side.finding,)
    try:
        return tuple(m.judge(need, offer))
    except Exception as exc:  # a finding, see _crashed
        return (_crashed(m, "judge", exc),)
