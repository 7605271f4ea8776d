"""Figures from the bench's records: confusion matrices, false PASS, agreement, culprits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

NATIVE = "x86-64"  # this machine's; an image of another ran through qemu-user


@dataclass
class Record:
    """One probe of one image on one host variant."""

    image: str
    variant: str
    probe: str
    predicted: str  # pass | risk | fail (portwise.runtime.run.predict)
    observed: str  # pass | fail | skipped | timeout
    status: str  # the pair's verdict: PASS | RISK | FAIL
    exit_code: int | None = None
    stderr: str = ""
    subjects: list[str] = field(default_factory=list)  # "clone3 fail" of findings on this probe
    failed_calls: list[str] = field(default_factory=list)  # from strace: "clone3 EPERM"
    why: str = ""
    emulated: str = ""  # the outcome under portwise test's own filter (the model's answers)
    predicted_own: str = "risk"  # predict() on the verdict of the programs the probe ran
    arch: str = NATIVE  # the image's machine; another one ran through qemu-user

    def culprit(self) -> bool | None:
        """For an observed failure: is a denied call the trace saw named by a finding?"""
        if self.observed != "fail":
            return None
        denied = {c.split()[0] for c in self.failed_calls if c.split()[-1] in ("EPERM", "ENOSYS")}
        named = {s.split()[0] for s in self.subjects}
        return bool(denied & named)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "culprit": self.culprit()}


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}% ({n}/{d})" if d else "n/a (0)"


def _matrix(title: str, counts: Counter[tuple[str, str]], rows: Sequence[str]) -> list[str]:
    lines = [title, f"  {'predicted':<10} {'ran':>6} {'failed':>7} {'total':>6}"]
    for row in rows:
        ran, failed = counts[row, "ran"], counts[row, "failed"]
        lines.append(f"  {row:<10} {ran:>6} {failed:>7} {ran + failed:>6}")
    return lines


def summary(records: Sequence[Record]) -> tuple[list[str], dict[str, Any]]:
    judged = [r for r in records if r.observed in ("pass", "fail")]
    skipped = Counter(r.why or r.observed for r in records if r.observed not in ("pass", "fail"))
    per_probe: Counter[tuple[str, str]] = Counter(
        (r.predicted.upper(), "ran" if r.observed == "pass" else "failed") for r in judged
    )
    pairs: dict[tuple[str, str], list[Record]] = {}
    for r in judged:
        pairs.setdefault((r.image, r.variant), []).append(r)
    per_pair: Counter[tuple[str, str]] = Counter(
        (rs[0].status, "failed" if any(r.observed == "fail" for r in rs) else "ran")
        for rs in pairs.values()
    )
    rows = ("PASS", "RISK", "FAIL")
    figures: dict[str, Any] = {}
    lines = _matrix(f"per probe ({len(judged)} judged runs)", per_probe, rows)
    lines += _matrix(f"per image x host pair ({len(pairs)} pairs)", per_pair, rows)
    for label, counts in (("probe", per_probe), ("pair", per_pair)):
        total = sum(counts.values())
        exact = counts["PASS", "ran"] + counts["FAIL", "failed"]
        risk = counts["RISK", "ran"] + counts["RISK", "failed"]
        figures[label] = {
            "false_pass": counts["PASS", "failed"],
            "false_fail": counts["FAIL", "ran"],
            "exact": exact,
            "risk": risk,
            "total": total,
            "matrix": {f"{p}/{o}": n for (p, o), n in sorted(counts.items())},
        }
        lines.append(
            f"{label:>5}: false PASS {counts['PASS', 'failed']}, false FAIL "
            f"{counts['FAIL', 'ran']}, exact agreement {_pct(exact, total)}, "
            f"RISK share {_pct(risk, total)}"
        )
    failures = [r for r in judged if r.observed == "fail"]
    traced = [r for r in failures if r.failed_calls]
    named = [r for r in failures if r.culprit()]
    figures["culprit"] = {"failures": len(failures), "traced": len(traced), "named": len(named)}
    lines.append(
        f"culprit agreement: {_pct(len(named), len(failures))} of observed failures have a "
        f"denied call (strace) named by a finding on the probe; {len(traced)} had a trace"
    )
    figures["not_judged"] = dict(skipped)
    if skipped:
        lines.append("not judged: " + "; ".join(f"{n} x {why}" for why, n in skipped.items()))
    return lines, figures


def disagreements(records: Sequence[Record]) -> list[Record]:
    """Every judged run whose prediction is not exactly its outcome (RISK included)."""
    return [r for r in records if r.observed in ("pass", "fail") and r.predicted != r.observed]


def table(records: Sequence[Record]) -> list[str]:
    head = f"{'image':<15} {'host variant':<22} {'probe':<17} {'pred':<5} {'obs':<5} "
    lines = [head + "finding subjects | failed calls (strace) | stderr"]
    order = {"pass": 0, "fail": 1, "risk": 2}
    for r in sorted(records, key=lambda r: (order[r.predicted], r.probe, r.image, r.variant)):
        err = r.stderr.strip().splitlines()[-1][:70] if r.stderr.strip() else ""
        lines.append(
            f"{r.image:<15} {r.variant:<22} {r.probe:<17} {r.predicted:<5} {r.observed:<5} "
            f"{', '.join(r.subjects) or '-'} | {', '.join(r.failed_calls[:4]) or '-'} | {err}"
        )
    return lines


def grouped(records: Sequence[Record]) -> list[str]:
    """The disagreements by probe, prediction, outcome and finding subjects, most frequent first."""
    groups: dict[tuple[str, str, str, str], list[Record]] = {}
    for r in records:
        key = (r.probe, r.predicted, r.observed, ", ".join(r.subjects) or "-")
        groups.setdefault(key, []).append(r)
    lines = []
    for (probe, pred, obs, subjects), rs in sorted(
        groups.items(), key=lambda i: (i[0][1] != "fail", i[0][1] == "risk", -len(i[1]), i[0])
    ):
        calls = sorted({c for r in rs for c in r.failed_calls if c.split()[-1] in DENIED})
        where = ", ".join(f"{r.image}@{r.variant}" for r in rs[:3]) + (
            f" +{len(rs) - 3}" if len(rs) > 3 else ""
        )
        lines.append(
            f"{len(rs):>4} {probe:<17} {pred:<4} -> {obs:<4} subjects: {subjects}; "
            f"denied: {', '.join(calls) or '-'}; {where}"
        )
    return lines


DENIED = ("EPERM", "ENOSYS")


def _rows(title: str, groups: dict[str, list[Record]]) -> list[str]:
    lines = [
        f"\n{title:<22} {'judged':>6} {'exact':>6} {'RISK':>5} {'falsePASS':>9} "
        f"{'falseFAIL':>9} {'failed':>6}"
    ]
    for label, records in groups.items():
        rs = [r for r in records if r.observed in ("pass", "fail")]
        exact = sum(r.predicted == r.observed for r in rs)
        lines.append(
            f"{label:<22} {len(rs):>6} {exact:>6} {sum(r.predicted == 'risk' for r in rs):>5} "
            f"{sum(r.predicted == 'pass' and r.observed == 'fail' for r in rs):>9} "
            f"{sum(r.predicted == 'fail' and r.observed == 'pass' for r in rs):>9} "
            f"{sum(r.observed == 'fail' for r in rs):>6}"
        )
    return lines


def by_variant(records: Sequence[Record]) -> list[str]:
    """Agreement per host variant: where the model is right, and where it hedges."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(r.variant, []).append(r)
    return _rows("host variant", groups)


def by_arch(records: Sequence[Record]) -> list[str]:
    """Agreement per image architecture: native, and each foreign one run through qemu-user."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        label = r.arch if r.arch == NATIVE else f"{r.arch} (qemu-user)"
        groups.setdefault(label, []).append(r)
    return _rows("image architecture", groups)


def emulation(records: Sequence[Record]) -> list[str]:
    """Cross-check: the same probe under portwise test's filter and under the released profile."""
    both = [r for r in records if r.observed in ("pass", "fail") and r.emulated]
    differ = [r for r in both if r.emulated != r.observed]
    lines = [
        f"\nportwise test's emulation against the released profile enforced: "
        f"{len(both) - len(differ)}/{len(both)} runs with the same outcome"
    ]
    groups: dict[tuple[str, str, str, str], list[Record]] = {}
    for r in differ:
        groups.setdefault((r.variant, r.probe, r.observed, r.emulated), []).append(r)
    for (variant, probe, observed, emulated), rs in sorted(groups.items()):
        calls = sorted({c for r in rs for c in r.failed_calls if c.split()[-1] in DENIED})
        lines.append(
            f"  {variant:<22} {probe:<17} enforced {observed:<4} emulated {emulated:<4} "
            f"({', '.join(r.image for r in rs)}) denied: {', '.join(calls) or '-'}"
        )
    return lines
