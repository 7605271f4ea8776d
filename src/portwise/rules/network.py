"""Network: an image that writes iptables rules with a different back end than the host's.

iptables 1.8 has two back ends behind the same command: `legacy` (the x_tables kernel API)
and `nf_tables`. Both can be loaded at once, but rules written through one are invisible to
the other, so a container that shares the host's network (kube-proxy, CNI agents) or runs its
own engine (docker-in-docker) and writes with the other back end builds chains the host's
packets never traverse, or finds the table it expects missing. Which one an image uses is where
its `iptables` symlink chain ends (Debian's alternatives, Alpine's xtables-*-multi); iptables
before 1.8 is always legacy. Images that detect the back end at run time (iptables-wrapper)
are fine. Separately, musl before 1.2.4 has no TCP fallback for truncated DNS answers: on
networks with large answers name resolution fails whatever the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.image.runtimes import iptables
from portwise.knowledge import incidents
from portwise.knowledge.runtimes import load
from portwise.model.host import Fact, HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact
from portwise.versions import version_key

ID = "network"


@dataclass(frozen=True, slots=True)
class NetNeeds:
    backend: str | None  # nf_tables | legacy | auto | None (unrecognised)
    iptables: str | None  # evidence: the symlink chain; None when the image has no iptables
    manager: str | None  # the program that writes rules with it, when one is present
    old_musl: tuple[str, str] | None  # (version, path) of a musl without DNS TCP fallback


@dataclass(frozen=True, slots=True)
class NetOffers:
    backend: Known[str]
    modules: Known[tuple[tuple[str, str], ...]]
    config: Known[tuple[tuple[str, str], ...]]  # only the tables modules' options
    rules: Known[tuple[tuple[str, int], ...]]  # rules per back end: a back end with rules is loaded


def needs(image: ImageProfile) -> NetNeeds:
    found = iptables(image)
    first = version_key(load().musl_dns_tcp.first_version)
    musl = next(
        (
            (c.version, c.path)
            for c in image.libc
            if c.family == "musl" and c.version and version_key(c.version) < first
        ),
        None,
    )
    if found is None:
        return NetNeeds(None, None, None, musl)
    return NetNeeds(found.backend, found.evidence, found.manager, musl)


def offers(host: HostProfile) -> NetOffers:
    options = {o: v for o, v in (host.kernel.config.value or {}).items() if o in MODULE_OPTIONS}
    config = (
        known(Fact.of(options, host.kernel.config.source or ""))
        if host.kernel.config.value is not None
        else known(host.kernel.config)
    )
    return NetOffers(
        _effective(host), known(host.kernel.modules), config, known(host.engines.iptables_rules)
    )


# the kernel module each back end's tables live in; a container cannot load one itself
# (no /lib/modules, no CAP_SYS_MODULE): docker-library/docker#350, containers/qm#267
TABLES_MODULE = {
    "legacy": ("ip_tables", "CONFIG_IP_NF_IPTABLES"),
    "nf_tables": ("nf_tables", "CONFIG_NF_TABLES"),
}
MODULE_OPTIONS = frozenset(option for _, option in TABLES_MODULE.values())
MODULE_SOURCES = (
    "https://github.com/docker-library/docker/issues/350",
    "https://github.com/containers/qm/issues/267",
)


def _effective(host: HostProfile) -> Known[str]:
    """The back end that holds the host's rules: where the engine or kube-proxy wrote them,
    when exactly one back end holds any (an nf_tables `iptables` on a host whose rules are
    all legacy means legacy is what packets traverse); else what `iptables` drives."""
    rules = host.engines.iptables_rules
    backend = known(host.engines.iptables_backend)
    holding = [b for b, n in (rules.value or {}).items() if n > 0]
    if len(holding) == 1 and holding[0] != backend.value:
        counts = ", ".join(f"{b} {n}" for b, n in sorted((rules.value or {}).items()))
        return Known(holding[0], f"rules per back end: {counts} ({rules.source})", None)
    return backend


def judge(need: NetNeeds, offer: NetOffers) -> tuple[Finding, ...]:
    findings = [_musl(need.old_musl)] if need.old_musl else []
    if need.iptables is None or need.backend == "auto":
        return tuple(findings)
    image_side = [f"iptables {need.iptables}"] + (
        [f"writes rules: {need.manager}"] if need.manager else []
    )
    kind = _manager_kind(need.manager)
    ids = incidents.matching(ID, case="backend-mismatch", manager=kind)
    host = offer.backend
    if host.value is None:
        findings.append(
            unknown_fact(
                ID,
                "backend-unknown",
                fact="iptables back end",
                fact_value=host,
                why_needed="The image writes iptables rules with a fixed back end; rules "
                "written with the other one than the host's are not seen by the host.",
                image_evidence=image_side,
                incidents=ids,
                references=incidents.references(ids),
            )
        )
    elif need.backend is None:
        if need.manager:
            findings.append(_unrecognised(need, image_side, host))
    elif need.backend != host.value:
        findings.append(_mismatch(need, image_side, host, ids))
    missing = _module_missing(need, offer, image_side)
    return tuple(findings + ([missing] if missing else []))


def _module_missing(need: NetNeeds, offer: NetOffers, image_side: list[str]) -> Finding | None:
    """The image's back end needs its tables module in the host kernel: loaded or built in.
    Unknown on both counts is a risk where a program writes rules, never a pass."""
    if need.backend not in TABLES_MODULE:
        return None
    module, option = TABLES_MODULE[need.backend]
    if module in dict(offer.modules.value or ()) or dict(offer.rules.value or ()).get(
        need.backend, 0
    ):
        return None  # loaded, built in, or holding rules (so loaded)
    built = dict(offer.config.value or ()).get(option)
    if built == "y":
        return None
    if offer.modules.value is None:
        if not need.manager or built is not None:
            return None  # "m" may be loaded: only a recorded module list says it is not
        return unknown_fact(
            ID,
            "iptables-module-unknown",
            fact="loaded kernel modules",
            fact_value=offer.modules,
            why_needed=f"{need.manager} writes rules with iptables-{need.backend}, which needs"
            f" the {module} module in the host kernel; a container cannot load it.",
            image_evidence=image_side,
            references=list(MODULE_SOURCES),
        )
    why = (
        f"{option}={built}: a module the host has not loaded"
        if built == "m"
        else f"{option} is not set: the kernel has no {module}"
        if offer.config.value is not None
        else f"{module} is not loaded (the kernel config is not recorded)"
    )
    return Finding(
        id=f"{ID}.iptables-module-missing",
        mechanism=ID,
        severity="fail"
        if need.manager and built != "m" and offer.config.value is not None
        else "risk",
        title=f"the image's iptables ({need.backend}) needs {module}, which the host kernel lacks",
        explanation=(
            f"iptables-{need.backend} works on tables in the {module} module; a container cannot"
            f" load a module itself, so without it iptables stops with \"can't initialize"
            f' iptables table ... Table does not exist (do you need to insmod?)" ({why}).'
        ),
        evidence=Evidence(
            image=image_side,
            host=[
                host_evidence("loaded and built-in modules", offer.modules),
                host_evidence(f"kernel config {option}", Known(built, offer.config.source, None))
                if offer.config.value is not None
                else host_evidence("kernel config", offer.config),
            ],
        ),
        mitigations_host=[f"load {module} on the host at boot (modules-load.d)"],
        mitigations_image=[
            "switch the image to the back end the host has, or detect it at start "
            "(kubernetes-sigs/iptables-wrappers)"
        ],
        references=list(MODULE_SOURCES),
    )


def _manager_kind(manager: str | None) -> str:
    if manager is None:
        return "none"
    return manager.split(" ", 1)[0]


def _mismatch(need: NetNeeds, image_side: list[str], host: Known[str], ids: list[str]) -> Finding:
    image_backend, host_backend = need.backend, host.value
    return Finding(
        id=f"{ID}.iptables-backend-mismatch",
        mechanism=ID,
        severity="fail" if need.manager else "risk",
        title=f"the image writes iptables rules with {image_backend}, the host uses {host_backend}",
        explanation=(
            f"Rules written through {image_backend} live in a different kernel table set than "
            f"the host's {host_backend} rules: the host's traffic never meets them, or the "
            "table the image expects does not exist ('RULE_APPEND failed', 'Table does not "
            "exist'). "
            + (
                f"{need.manager} programs the network, so it fails."
                if need.manager
                else "It matters when the container runs iptables with the host's network "
                "(NET_ADMIN, host network); iptables being installed alone does not show that."
            )
        ),
        evidence=Evidence(image=image_side, host=[host_evidence("iptables back end", host)]),
        mitigations_host=[f"switch the host to iptables-{image_backend} (update-alternatives)"],
        mitigations_image=[
            f"switch the image to iptables-{host_backend}, or detect the back end at start "
            "(kubernetes-sigs/iptables-wrappers)"
        ],
        incidents=ids,
        references=incidents.references(ids),
    )


def _unrecognised(need: NetNeeds, image_side: list[str], host: Known[str]) -> Finding:
    return Finding(
        id=f"{ID}.iptables-backend-unrecognised",
        mechanism=ID,
        severity="risk",
        title="portwise cannot tell which iptables back end this image writes with",
        explanation=(
            f"{need.manager} writes iptables rules; whether they reach the host's "
            f"{host.value} tables depends on the back end, which the image's files do not show."
        ),
        evidence=Evidence(image=image_side, host=[host_evidence("iptables back end", host)]),
        unknown=["image iptables back end"],
    )


def _musl(old: tuple[str, str]) -> Finding:
    version, path = old
    ids = incidents.matching(ID, case="musl-dns")
    first = load().musl_dns_tcp
    return Finding(
        id=f"{ID}.musl-dns-no-tcp",
        mechanism=ID,
        severity="risk",
        title=f"musl {version} cannot resolve names whose DNS answer needs TCP",
        explanation=(
            f"musl before {first.first_version} ignores the truncation bit and never retries "
            "over TCP, and queries all nameservers in parallel: answers over 512 bytes (long "
            "CNAME chains, many records) come back empty while glibc images resolve them. It "
            "depends on the network's DNS, not on this host's kernel."
        ),
        evidence=Evidence(image=[f"musl {version} ({path})"]),
        mitigations_host=["a single upstream resolver that keeps answers small"],
        mitigations_image=[f"rebuild on musl {first.first_version}+ (Alpine 3.18+)"],
        incidents=ids,
        references=[*incidents.references(ids), first.source],
    )


MECHANISM: Mechanism[NetNeeds, NetOffers] = Mechanism(
    id=ID,
    title="iptables back end and DNS",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=("https://wiki.nftables.org/wiki-nftables/index.php/Legacy_xtables_tools",),
)
