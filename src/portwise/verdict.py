"""Judge images on hosts: every mechanism over every pair, each distinct interface judged once.

Images are reduced to what each mechanism needs and hosts to what each offers; pairs whose
reductions are equal share one judgement. A fleet of variants of a few real hosts therefore
costs little more than the few real hosts (bench/check_speed.py, bench/matrix_speed.py).

Profiles are frozen: two that hold the very same values for every field but their name (a
profile read once and named by each of its references, as a store keeps one per digest) are
reduced once. Equal values in distinct objects are not looked for (comparing them costs what
reducing does), and a digest is never taken for the content: a copy with changed facts keeps
its digest (what-if copies, tests).
"""

from __future__ import annotations

import gc
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

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
    results: Results
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


class _Same:
    """A field value compared by identity; the key holds it, so its id is never reused."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and self.value is other.value

    def __hash__(self) -> int:
        return id(self.value)


def _content(item: BaseModel, name: str) -> tuple[object, ...]:
    """What a profile holds, but its name: strings and None by value, the rest by identity."""
    values = (
        v if v is None or type(v) is str else _Same(v)
        for k, v in item.__dict__.items()
        if k != name
    )
    return (type(item), *values)


@dataclass(frozen=True, slots=True)
class Reduced:
    """One side of the matrix: each item's group, each group's reduction (one per mechanism),
    and per mechanism each group's number among that mechanism's distinct reductions."""

    group: list[int]
    keys: list[Key]
    numbers: list[list[int]]


def _reduce_side(
    items: Sequence[BaseModel], mechanisms: Sequence[Mechanism[Any, Any]], side: str, name: str
) -> Reduced:
    same: dict[tuple[object, ...], int] = {}
    index: dict[Key, int] = {}
    group: list[int] = []
    with _no_cycle_collection():
        for item in items:
            content = _content(item, name)
            found = same.get(content)
            if found is None:
                reduced = _reduce(mechanisms, side, item)
                found = same[content] = index.setdefault(reduced, len(index))
            group.append(found)
    keys = list(index)
    # Per mechanism, each distinct reduction gets a small number once, so the memo of the
    # judging is keyed by ints: hashing a large reduction (an image's syscall uses) for every
    # pair of groups cost more than judging.
    numbers = [_numbered(column) for column in zip(*keys, strict=True)] if keys else []
    return Reduced(group, keys, numbers or [[] for _ in mechanisms])


def reduce_images(
    images: Sequence[ImageProfile], mechanisms: Sequence[Mechanism[Any, Any]] = MECHANISMS
) -> Reduced:
    return _reduce_side(images, mechanisms, "needs", "reference")


def reduce_hosts(
    hosts: Sequence[HostProfile], mechanisms: Sequence[Mechanism[Any, Any]] = MECHANISMS
) -> Reduced:
    return _reduce_side(hosts, mechanisms, "offers", "name")


Results = dict[tuple[int, int], tuple[Status, tuple[Finding, ...]]]


def judge_groups(
    images: Reduced, hosts: Reduced, mechanisms: Sequence[Mechanism[Any, Any]] = MECHANISMS
) -> Results:
    """Every pair of groups; each mechanism judges each distinct pair of reductions once."""
    results: Results = {}
    with _no_cycle_collection():
        _judge_all(images, hosts, mechanisms, results)
    return results


def _judge_all(
    images: Reduced,
    hosts: Reduced,
    mechanisms: Sequence[Mechanism[Any, Any]],
    results: Results,
) -> None:
    memo: list[dict[tuple[int, int], tuple[Finding, ...]]] = [{} for _ in mechanisms]
    for gi, need_key in enumerate(images.keys):
        for gh, offer_key in enumerate(hosts.keys):
            findings: list[Finding] = []
            for k, m in enumerate(mechanisms):
                pair = (images.numbers[k][gi], hosts.numbers[k][gh])
                found = memo[k].get(pair)
                if found is None:
                    found = memo[k][pair] = _judged(m, need_key[k], offer_key[k])
                findings.extend(found)
            results[gi, gh] = (status_of(findings), tuple(findings))


def check(
    images: Sequence[ImageProfile],
    hosts: Sequence[HostProfile],
    mechanisms: Sequence[Mechanism[Any, Any]] = MECHANISMS,
) -> Matrix:
    image_side = reduce_images(images, mechanisms)
    host_side = reduce_hosts(hosts, mechanisms)
    results = judge_groups(image_side, host_side, mechanisms)
    return Matrix(
        images,
        hosts,
        image_side.group,
        host_side.group,
        results,
        tuple(m.id for m in mechanisms),
    )


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Reducing and judging allocate many small objects and no cycles; with a fleet's profiles
    alive (millions of objects), every full collection those allocations trigger walks them
    all: a third of a 1000 x 1000 check. Cycles made meanwhile are collected afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
