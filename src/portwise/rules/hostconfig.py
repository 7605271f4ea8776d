"""Host configuration: user namespaces switched off, overlay on xfs without d_type, and a huge
default open-files limit under tools that visit every descriptor.

Rootless podman, buildah and charliecloud create user namespaces; a host with
user.max_user_namespaces=0 (CentOS/RHEL 7's default) or Debian's
kernel.unprivileged_userns_clone=0 refuses them ("user namespaces are not enabled"). overlayfs
needs d_type from the filesystem under it to keep whiteouts: on xfs formatted with ftype=0,
deleted files come back or the mount is refused, whatever the image. And an engine started
with LimitNOFILE=infinity hands containers a soft limit of 1073741816 descriptors: rpm before
4.14.2 (CentOS 7's yum) marks every possible descriptor close-on-exec before each scriptlet,
so a `yum install` takes hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portwise.knowledge import incidents
from portwise.knowledge.runtimes import load
from portwise.model.host import Fact, HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact
from portwise.versions import version_key

ID = "hostconfig"
USERNS_PACKAGES = frozenset(
    {
        "podman",
        "buildah",
        "crun",
        "fuse-overlayfs",
        "slirp4netns",
        "uidmap",
        "shadow-uidmap",
        "charliecloud",
        "rootlesskit",
        "bubblewrap",
    }
)
USERNS_SYSCTLS = (
    "user.max_user_namespaces",
    "kernel.unprivileged_userns_clone",
    "kernel.apparmor_restrict_unprivileged_userns",
)
_NOFILE = re.compile(r"^nofile=(-?\d+|unlimited|infinity)(?::(-?\d+|unlimited|infinity))?$")


@dataclass(frozen=True, slots=True)
class HostConfigNeeds:
    userns: tuple[str, ...]  # packages that create user namespaces (at most 3, for evidence)
    fd_loopers: tuple[str, ...]  # packages that visit every descriptor up to RLIMIT_NOFILE


@dataclass(frozen=True, slots=True)
class HostConfigOffers:
    sysctls: tuple[tuple[str, Known[str]], ...]
    storage_driver: Known[str]
    storage_filesystem: Known[str]
    d_type: Known[bool]
    nofile: Known[int]  # the default soft RLIMIT_NOFILE containers get


def needs(image: ImageProfile) -> HostConfigNeeds:
    userns = tuple(
        f"{p.manager} package {p.name} {p.version}"
        for p in image.packages
        if p.name in USERNS_PACKAGES
    )[:3]
    fixed = version_key(load().rpm_close_all_fds.first_fixed)
    loopers = tuple(
        f"{p.manager} package {p.name} {p.version}"
        for p in image.packages
        if p.manager == "rpm" and p.name == "rpm" and version_key(p.version)[:3] < fixed
    )
    return HostConfigNeeds(userns, loopers)


def offers(host: HostProfile) -> HostConfigOffers:
    sysctls = tuple(
        (name, known(host.security.sysctls.get(name) or Fact[str].missing("not recorded")))
        for name in USERNS_SYSCTLS
    )
    return HostConfigOffers(
        sysctls,
        known(host.engines.storage_driver),
        known(host.engines.storage_filesystem),
        known(host.engines.storage_d_type),
        known(host.engines.default_ulimits, _nofile_soft),
    )


def _nofile_soft(ulimits: list[str]) -> int | None:
    for entry in ulimits:
        m = _NOFILE.match(entry.strip())
        if m:
            soft = m.group(1)
            return 1 << 62 if soft in ("unlimited", "infinity", "-1") else int(soft)
    return None


def judge(need: HostConfigNeeds, offer: HostConfigOffers) -> tuple[Finding, ...]:
    findings = list(_userns(need, offer)) + list(_overlay(offer)) + list(_nofile(need, offer))
    return tuple(findings)


def _userns(need: HostConfigNeeds, offer: HostConfigOffers) -> list[Finding]:
    if not need.userns:
        return []
    ids = incidents.matching(ID, case="userns-disabled")
    values = dict(offer.sysctls)
    off = [
        (name, fact)
        for name, fact in offer.sysctls
        if fact.value == "0" and name != USERNS_SYSCTLS[2]
    ]
    if off:
        return [
            Finding(
                id=f"{ID}.userns-disabled",
                mechanism=ID,
                severity="fail",
                title="the host has user namespaces switched off; this image creates them",
                explanation=(
                    "Rootless container tools in the image (podman, buildah, charliecloud) "
                    "start by creating a user namespace; with this sysctl at 0 the kernel "
                    "refuses ('cannot clone: Invalid argument', 'user namespaces are not "
                    "enabled in /proc/sys/user/max_user_namespaces')."
                ),
                evidence=Evidence(
                    image=list(need.userns),
                    host=[host_evidence(name, fact) for name, fact in off],
                ),
                mitigations_host=[f"sysctl {off[0][0]}={'15000' if 'max' in off[0][0] else '1'}"],
                mitigations_image=["run the tools as root in a privileged container instead"],
                incidents=ids,
                references=incidents.references(ids),
            )
        ]
    findings = []
    limit = values[USERNS_SYSCTLS[0]]
    if limit.value is None:
        findings.append(
            unknown_fact(
                ID,
                "userns-unknown",
                fact=USERNS_SYSCTLS[0],
                fact_value=limit,
                why_needed="The image ships rootless container tools that create user "
                "namespaces, which a host can switch off.",
                image_evidence=need.userns,
                incidents=ids,
                references=incidents.references(ids),
            )
        )
    clone = values[USERNS_SYSCTLS[1]]
    if clone.value is None and not (clone.unknown or "").endswith("does not exist"):
        findings.append(
            unknown_fact(
                ID,
                "userns-clone-unknown",
                fact=USERNS_SYSCTLS[1],
                fact_value=clone,
                why_needed="Debian and Ubuntu kernels can forbid unprivileged user namespaces "
                "with this switch; the image's rootless tools need them.",
                image_evidence=need.userns,
                incidents=ids,
            )
        )
    apparmor = values[USERNS_SYSCTLS[2]]
    if apparmor.value == "1":
        findings.append(
            Finding(
                id=f"{ID}.userns-apparmor",
                mechanism=ID,
                severity="risk",
                title="unprivileged user namespaces need an AppArmor profile on this host",
                explanation=(
                    "Ubuntu 23.10+ restricts unprivileged user namespaces to programs an "
                    "AppArmor profile allows; the image's rootless tools fail without one."
                ),
                evidence=Evidence(
                    image=list(need.userns),
                    host=[host_evidence(USERNS_SYSCTLS[2], apparmor)],
                ),
                mitigations_host=["an AppArmor profile with `userns,` for the tool"],
            )
        )
    return findings


def _overlay(offer: HostConfigOffers) -> list[Finding]:
    driver, fs = offer.storage_driver.value, offer.storage_filesystem.value
    if driver not in ("overlay", "overlay2") or fs != "xfs" or offer.d_type.value is True:
        return []
    ids = incidents.matching(ID, case="overlay-d-type")
    host = [
        host_evidence("storage driver", offer.storage_driver),
        host_evidence("storage filesystem", offer.storage_filesystem),
        host_evidence("d_type support", offer.d_type),
    ]
    if offer.d_type.value is None:
        return [
            Finding(
                id=f"{ID}.overlay-xfs-ftype-unknown",
                mechanism=ID,
                severity="risk",
                title="overlay storage on xfs: whether it was formatted with ftype=1 is unknown",
                explanation=(
                    "overlayfs keeps deletions as whiteouts, which need d_type; xfs has it "
                    "only when formatted with ftype=1 (older RHEL/CentOS 7 installs used 0). "
                    "Without it deleted files reappear or the mount is refused, for any image."
                ),
                evidence=Evidence(host=host),
                mitigations_host=["check with `xfs_info <storage root> | grep ftype`"],
                unknown=["d_type support"],
                incidents=ids,
                references=incidents.references(ids),
            )
        ]
    return [
        Finding(
            id=f"{ID}.overlay-no-d-type",
            mechanism=ID,
            severity="fail",
            title="overlay storage on xfs without d_type (ftype=0)",
            explanation=(
                "overlayfs needs d_type for its whiteouts: the engine refuses the mount "
                "('overlayfs: upper fs needs to support d_type') or, on old kernels, deleted "
                "files reappear and `rm -rf` fails with 'invalid argument'. Every image."
            ),
            evidence=Evidence(host=host),
            mitigations_host=["reformat the storage with mkfs.xfs -n ftype=1 (or use ext4)"],
            incidents=ids,
            references=incidents.references(ids),
        )
    ]


def _nofile(need: HostConfigNeeds, offer: HostConfigOffers) -> list[Finding]:
    if not need.fd_loopers:
        return []
    ids = incidents.matching(ID, case="nofile-huge")
    limit = load().huge_nofile
    if offer.nofile.value is None:
        return [
            unknown_fact(
                ID,
                "nofile-unknown",
                fact="default open-files limit",
                fact_value=offer.nofile,
                why_needed="The image's rpm visits every possible descriptor before each "
                "scriptlet; under an engine started with LimitNOFILE=infinity that takes hours.",
                image_evidence=need.fd_loopers,
                incidents=ids,
                references=incidents.references(ids),
            )
        ]
    if offer.nofile.value <= limit.threshold:
        return []
    return [
        Finding(
            id=f"{ID}.nofile-huge",
            mechanism=ID,
            severity="risk",
            title="a huge default open-files limit makes this image's rpm/yum crawl",
            explanation=(
                f"rpm before {load().rpm_close_all_fds.first_fixed} sets close-on-exec on "
                "every descriptor number up to the soft RLIMIT_NOFILE before each scriptlet; "
                f"at {offer.nofile.value} that is minutes per package and hours per "
                "`yum install`. It works, eventually."
            ),
            evidence=Evidence(
                image=list(need.fd_loopers),
                host=[host_evidence("default open-files limit", offer.nofile)],
            ),
            mitigations_host=["set the engine's default nofile to 1024:524288"],
            mitigations_image=["run with --ulimit nofile=1024:524288"],
            incidents=ids,
            references=[*incidents.references(ids), load().rpm_close_all_fds.source],
        )
    ]


MECHANISM: Mechanism[HostConfigNeeds, HostConfigOffers] = Mechanism(
    id=ID,
    title="host configuration",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=("https://docs.kernel.org/filesystems/overlayfs.html",),
)
