"""Kernel features a host can have switched off: io_uring, keys, bpf, userfaultfd, Landlock,
seccomp filters, kcmp.

A kernel built without an option answers its system calls with ENOSYS; a sysctl refuses them
to unprivileged callers with EPERM (kernel.io_uring_disabled, kernel.unprivileged_bpf_disabled,
vm.unprivileged_userfaultfd); Landlock built but left out of the boot-time LSM list answers
EOPNOTSUPP. For every such call the image's binaries may issue, portwise reads the host's
switches (knowledge/kernel_features, each with the kernel documentation or source it was read
from) and combines the errno with how the caller reacts (rules/fallback): a caller that falls
back is noted, one that breaks is a FAIL (a RISK when only some runs reach the call or the
container may still get the feature), and a switch the host profile does not record is a RISK
naming what to check, never a PASS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from portwise.host.seccomp_table import filters, refused
from portwise.knowledge import kernel_features
from portwise.knowledge.kernel_features import Feature, Switch
from portwise.model.host import Fact, HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding, Severity
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact
from portwise.rules.fallback import Use, describe, outcome, uses
from portwise.versions import version_key

ID = "features"
SECCOMP_FILTER = "seccomp-filter"  # the feature id in knowledge/kernel_features
NOT_EXIST = "does not exist"  # host/security: the sysctl file is absent under a mounted /proc/sys


@dataclass(frozen=True, slots=True)
class FeatureNeeds:
    uses: tuple[Use, ...]  # only the calls some kernel feature provides


@dataclass(frozen=True, slots=True)
class FeatureOffers:
    release: Known[str]
    config: Known[tuple[tuple[str, str], ...]]  # only the options the features name
    sysctls: tuple[tuple[str, Known[str]], ...]
    lsms: Known[tuple[str, ...]]
    refused: frozenset[str] = frozenset()  # calls the engine's seccomp filter never lets through
    filters: bool = False  # the engine loads a seccomp filter: the kernel has filter support


@dataclass(frozen=True, slots=True)
class State:
    """One switch as this host has it."""

    value: Literal["on", "off", "unknown"]
    switch: Switch
    evidence: tuple[str, ...] = ()
    fact: str | None = None  # the host fact that is unknown
    fact_value: Known[Any] | None = None
    release_unknown: bool = False  # off, but whether this kernel has the switch is unknown


def needs(image: ImageProfile) -> FeatureNeeds:
    wanted = kernel_features.syscalls()
    return FeatureNeeds(tuple(u for u in uses(image) if u.syscall in wanted))


def _option_names() -> frozenset[str]:
    return frozenset(
        o.name for f in kernel_features.features() for s in f.switches for o in s.options
    )


def _sysctl_names() -> tuple[str, ...]:
    names = {s.name for f in kernel_features.features() for s in f.switches if s.kind == "sysctl"}
    return tuple(sorted(names))


def offers(host: HostProfile) -> FeatureOffers:
    wanted = _option_names()
    config = host.kernel.config
    reduced: Fact[dict[str, str]] = (
        Fact.of({k: v for k, v in config.value.items() if k in wanted}, config.source or "")
        if config.value is not None
        else config
    )
    sysctls = tuple(
        (name, known(host.security.sysctls.get(name) or Fact[str].missing("not recorded")))
        for name in _sysctl_names()
    )
    return FeatureOffers(
        known(host.kernel.release),
        known(reduced),
        sysctls,
        known(host.security.lsms),
        refused(host, kernel_features.syscalls()),
        filters(host),
    )


def _release(offer: FeatureOffers) -> tuple[int, ...] | None:
    return version_key(offer.release.value)[:2] if offer.release.value else None


def _applies(switch: Switch, release: tuple[int, ...] | None) -> bool | None:
    """Does this kernel have the switch? None: the release is unknown and the switch is not
    in every kernel."""
    if switch.since is None and switch.until is None:
        return True
    if release is None:
        return None
    if switch.since is not None and release < version_key(switch.since):
        return False
    return not (switch.until is not None and release >= version_key(switch.until))


def _config(switch: Switch, offer: FeatureOffers, release: tuple[int, ...] | None) -> State:
    label = "kernel config " + " or ".join(o.name for o in switch.options)
    if release is not None and all(
        o.since is not None and release < version_key(o.since) for o in switch.options
    ):
        return State("on", switch)  # older than the feature: the kernel mechanism judges that
    if offer.config.value is None:
        return State("unknown", switch, fact=label, fact_value=offer.config)
    values = dict(offer.config.value)
    source = offer.config.source
    shown = [
        f"{o.name}={values[o.name]}" if o.name in values else f"{o.name} not recorded"
        for o in switch.options
    ]
    evidence = (f"{', '.join(shown)} (from {source})",)
    if any(values.get(o.name) in ("y", "m") for o in switch.options):
        return State("on", switch, evidence)
    for o in switch.options:
        if o.name in values:
            continue
        if o.since is not None and release is not None and release < version_key(o.since):
            continue  # the option is newer than this kernel: its absence says nothing
        missing: Known[Any] = Known(
            None, None, f"{o.name} is not in the recorded config ({source})"
        )
        return State("unknown", switch, evidence, fact=label, fact_value=missing)
    return State("off", switch, evidence)


def _sysctl(switch: Switch, offer: FeatureOffers, release: tuple[int, ...] | None) -> State:
    fact = dict(offer.sysctls).get(switch.name) or Known(None, None, "not recorded")
    if fact.value is None:
        if (fact.unknown or "").endswith(NOT_EXIST):
            return State("on", switch, (host_evidence(switch.name, fact),))  # no such switch
        if release is not None and switch.since and release < version_key(switch.since):
            return State("on", switch)
        return State("unknown", switch, fact=f"sysctl {switch.name}", fact_value=fact)
    evidence = (host_evidence(switch.name, fact),)
    return State("off" if fact.value in switch.off_values else "on", switch, evidence)


def _lsm(switch: Switch, offer: FeatureOffers, release: tuple[int, ...] | None) -> State:
    active = offer.lsms
    if active.value is None:
        if release is not None and switch.since and release < version_key(switch.since):
            return State("on", switch)
        return State("unknown", switch, fact="active LSM list", fact_value=active)
    evidence = (host_evidence("active LSMs", active),)
    return State("on" if switch.name in active.value else "off", switch, evidence)


_READERS = {"config": _config, "sysctl": _sysctl, "lsm": _lsm}


def host_states(feature: Feature, offer: FeatureOffers) -> list[State]:
    """Each switch that may exist on this kernel, in the order the kernel checks them, up to
    the first that is off."""
    release = _release(offer)
    states = []
    for switch in feature.switches:
        applies = _applies(switch, release)
        if applies is False:
            continue
        state = _READERS[switch.kind](switch, offer, release)
        if state.value == "off" and applies is None:
            state = State("off", switch, state.evidence, release_unknown=True)
        states.append(state)
        if state.value == "off":
            break
    return states


def judge(need: FeatureNeeds, offer: FeatureOffers) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    for feature in kernel_features.features():
        # a call the seccomp filter refuses never reaches the kernel (the seccomp mechanism
        # judges it); an engine that loads filters runs on a kernel that supports them
        used = [
            u for u in need.uses if u.syscall in feature.syscalls and u.syscall not in offer.refused
        ]
        if not used or (feature.id == SECCOMP_FILTER and offer.filters):
            continue
        states = host_states(feature, offer)
        unknown = [s for s in states if s.value == "unknown"]
        off = next((s for s in states if s.value == "off"), None)
        if off is not None:
            # an earlier switch that is unknown may answer first, with its own errno
            codes = (off.switch.code, *(s.switch.code for s in unknown))
            refused = [u for u in used if u.syscall in feature.refused(off.switch)]
            findings += _switched_off(feature, off, refused, codes)
        elif unknown:
            finding = _unknown(feature, unknown, used)
            if finding is not None:
                findings.append(finding)
    return tuple(findings)


_WORST = {"broken": 3, "unknown": 2, "returned": 1, "ok": 0}


def _worst(use: Use, codes: Sequence[int]) -> str:
    return max((outcome(use, code) for code in codes), key=_WORST.__getitem__)


def _host_side(feature: Feature, state: State) -> list[str]:
    switch = state.switch
    lines = list(state.evidence)
    if state.release_unknown:
        lines.append(
            f"whether this kernel has {switch.name} is unknown: the kernel release is not recorded"
        )
    refused = ", ".join(feature.refused(switch))
    unless = f", unless {switch.unless}" if switch.unless else ""
    lines.append(f"{refused}: {switch.errno}{unless} ({switch.source.url})")
    return lines


def _switched_off(
    feature: Feature, state: State, refused: Sequence[Use], codes: Sequence[int]
) -> list[Finding]:
    switch = state.switch
    findings = []
    by_syscall: dict[str, list[Use]] = {}
    for use in refused:
        by_syscall.setdefault(use.syscall, []).append(use)
    for syscall, group in sorted(by_syscall.items()):
        outcomes = {use: _worst(use, codes) for use in group}
        broken = [u for u, o in outcomes.items() if o == "broken"]
        unsure = [u for u, o in outcomes.items() if o in ("unknown", "returned")]
        if broken:
            sure = any(u.certain and not u.condition for u in broken)
            sure = sure and not switch.conditional and not state.release_unknown
            severity: Severity = "fail" if sure else "risk"
            findings.append(_broken(feature, state, syscall, broken + unsure, severity))
        elif unsure:
            findings.append(_broken(feature, state, syscall, unsure, "risk"))
        else:
            findings.append(_copes(feature, state, syscall, group))
    return findings


def _how(switch: Switch) -> str:
    if switch.kind == "config":
        return f"this host's kernel is built without {switch.name}"
    if switch.kind == "sysctl":
        return f"this host sets {switch.name} to a value that switches it off"
    return f"{switch.name} is built into this host's kernel but not in its boot-time LSM list"


def _broken(
    feature: Feature, state: State, syscall: str, group: list[Use], severity: Severity
) -> Finding:
    switch = state.switch
    known_break = any(outcome(u, switch.code) == "broken" for u in group)
    why = (
        "the caller does not fall back"
        if known_break
        else "portwise does not know whether the caller copes"
    )
    caveats = []
    if switch.unless:
        caveats.append(f"It still works if {switch.unless}.")
    if any(u.condition or not u.certain for u in group):
        caveats.append("Only some runs reach the call (see the conditions).")
    return Finding(
        id=f"{ID}.{feature.id}-off",
        subject=syscall,
        mechanism=ID,
        severity=severity,
        title=f"{feature.title} is switched off on this host: {syscall} gets {switch.errno}; "
        + why,
        explanation=(
            f"{_how(switch).capitalize()}, so {syscall} fails with {switch.errno} where it works"
            f" on other hosts; {why}: {feature.effect}. " + " ".join(caveats)
        ).strip(),
        evidence=Evidence(image=[describe(u) for u in group], host=_host_side(feature, state)),
        mitigations_host=[switch.fix],
        mitigations_image=[
            f"run the program without the {feature.title} code path, or with a build that does"
            f" not need {syscall}"
        ],
        unknown=[f"how {group[0].example} handles {switch.errno} from {syscall}"]
        if not known_break
        else [],
        references=[switch.source.url, *switch.source.also],
    )


def _copes(feature: Feature, state: State, syscall: str, group: list[Use]) -> Finding:
    switch = state.switch
    return Finding(
        id=f"{ID}.{feature.id}-off-fallback",
        subject=syscall,
        mechanism=ID,
        severity="info",
        title=f"{feature.title} is switched off on this host; the callers of {syscall} cope",
        explanation=(
            f"{_how(switch).capitalize()}, so {syscall} fails with {switch.errno}; every caller"
            " in the image falls back or ignores that error."
        ),
        evidence=Evidence(image=[describe(u) for u in group], host=_host_side(feature, state)),
        mitigations_host=[switch.fix],
        references=[switch.source.url],
    )


def _refused_by(feature: Feature, states: Sequence[State]) -> set[str]:
    return {name for s in states for name in feature.refused(s.switch)}


def _check(state: State) -> str:
    switch = state.switch
    if switch.kind == "config":
        names = " ".join(o.name for o in switch.options)
        return f"check `zcat /proc/config.gz` or /boot/config-$(uname -r) for {names}"
    if switch.kind == "sysctl":
        return f"check `sysctl {switch.name}`"
    return "check /sys/kernel/security/lsm (or lsm= on /proc/cmdline) for " + switch.name


def _unknown(feature: Feature, unknown: list[State], used: list[Use]) -> Finding | None:
    """A switch the host profile does not record: RISK unless every caller copes with every
    errno the unknown switches could give."""
    codes = [s.switch.code for s in unknown]
    used = [u for u in used if u.syscall in _refused_by(feature, unknown)]
    if all(_worst(u, codes) == "ok" for u in used):
        return None
    unknown = list({s.fact or s.switch.name: s for s in reversed(unknown)}.values())[::-1]
    first = unknown[0]
    errnos = "/".join(sorted({s.switch.errno for s in unknown}))
    finding = unknown_fact(
        ID,
        f"{feature.id}-unknown",
        fact=first.fact or first.switch.name,
        fact_value=first.fact_value or Known(None, None, "not recorded"),
        why_needed=(
            f"The image may issue {', '.join(sorted({u.syscall for u in used}))}; a host can"
            f" switch {feature.title} off ({', '.join(s.switch.name for s in unknown)}), and"
            f" the calls then fail with {errnos}: {feature.effect}."
        ),
        image_evidence=[describe(u) for u in used],
        references=[s.switch.source.url for s in unknown],
    )
    others = [
        host_evidence(s.fact or s.switch.name, s.fact_value or Known(None, None, None))
        for s in unknown[1:]
    ]
    others = [line for line in dict.fromkeys(others) if line not in finding.evidence.host]
    return finding.model_copy(
        update={
            "subject": used[0].syscall if len({u.syscall for u in used}) == 1 else None,
            "evidence": Evidence(
                image=finding.evidence.image, host=[*finding.evidence.host, *others]
            ),
            "mitigations_host": list(
                dict.fromkeys([*finding.mitigations_host, *(_check(s) for s in unknown)])
            ),
            "unknown": [s.fact or s.switch.name for s in unknown],
        }
    )


MECHANISM: Mechanism[FeatureNeeds, FeatureOffers] = Mechanism(
    id=ID,
    title="kernel features switched off (config, sysctl, LSM)",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=(
        "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/Documentation/admin-guide/sysctl/kernel.rst?h=v6.12",
        "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/kernel/sys_ni.c?h=v6.12",
    ),
)
