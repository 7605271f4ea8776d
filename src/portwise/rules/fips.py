"""FIPS: a host in FIPS mode switches RHEL-family crypto libraries inside the container too.

/proc/sys/crypto/fips_enabled is global to the kernel, not namespaced. Red Hat-family builds of
OpenSSL, GnuTLS, libgcrypt and NSS read it when they start and enter FIPS mode: MD5, short RSA
keys and other non-approved algorithms then fail with "disabled for FIPS", so an application
that hashes with MD5 (caches, checksums) breaks only on FIPS hosts. Debian, Ubuntu and Alpine
builds ignore the flag: they run unchanged, which is an audit question rather than a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.image.runtimes import crypto_libraries
from portwise.knowledge import incidents
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact

ID = "fips"


@dataclass(frozen=True, slots=True)
class FipsNeeds:
    followers: tuple[str, ...]  # crypto packages that follow the host's FIPS flag
    ignorers: tuple[str, ...]  # crypto packages that do not (at most a few, for evidence)


@dataclass(frozen=True, slots=True)
class FipsOffers:
    fips: Known[bool]


def needs(image: ImageProfile) -> FipsNeeds:
    libs = crypto_libraries(image)
    return FipsNeeds(
        tuple(c.evidence for c in libs if c.follows_host_fips),
        tuple(c.evidence for c in libs if not c.follows_host_fips)[:3],
    )


def offers(host: HostProfile) -> FipsOffers:
    fact = known(host.security.fips)
    if fact.value is None and (fact.unknown or "").endswith("fips_enabled does not exist"):
        # the sysctl exists only in kernels built with CONFIG_CRYPTO_FIPS: no FIPS mode here
        return FipsOffers(Known(False, f"{fact.unknown} (kernel without FIPS support)", None))
    return FipsOffers(fact)


def judge(need: FipsNeeds, offer: FipsOffers) -> tuple[Finding, ...]:
    ids = incidents.matching(ID, case="follows-host")
    if need.followers:
        if offer.fips.value is None:
            return (
                unknown_fact(
                    ID,
                    "mode-unknown",
                    fact="FIPS mode",
                    fact_value=offer.fips,
                    why_needed="The image's crypto libraries switch to FIPS mode when the "
                    "host kernel is in FIPS mode, which disables MD5 and other algorithms.",
                    image_evidence=need.followers,
                    incidents=ids,
                    references=incidents.references(ids),
                ),
            )
        if offer.fips.value:
            return (_follows(need, offer.fips, ids),)
        return ()
    if need.ignorers and offer.fips.value:
        return (_ignored(need, offer.fips),)
    return ()


def _follows(need: FipsNeeds, fips: Known[bool], ids: list[str]) -> Finding:
    return Finding(
        id=f"{ID}.host-mode-propagates",
        mechanism=ID,
        severity="risk",
        title="the host's FIPS mode switches this image's crypto libraries to FIPS mode",
        explanation=(
            "These Red Hat-family libraries read the kernel's global "
            "/proc/sys/crypto/fips_enabled and enter FIPS mode inside the container: MD5, "
            "RC4, short keys and other non-approved algorithms fail ('disabled for FIPS'). "
            "Code that uses them, even for non-security checksums, breaks only on FIPS hosts."
        ),
        evidence=Evidence(
            image=list(need.followers),
            host=[host_evidence("FIPS mode", fips)],
        ),
        mitigations_host=["run the workload on a non-FIPS node"],
        mitigations_image=[
            "mark non-security hashes as such (Python: hashlib.md5(usedforsecurity=False))",
            "test the image with fips=1 (e.g. on a FIPS-mode VM) before deploying there",
        ],
        incidents=ids,
        references=incidents.references(ids),
    )


def _ignored(need: FipsNeeds, fips: Known[bool]) -> Finding:
    return Finding(
        id=f"{ID}.host-mode-ignored",
        mechanism=ID,
        severity="info",
        title="the host is in FIPS mode; this image's crypto libraries do not follow it",
        explanation=(
            "Debian, Ubuntu and Alpine builds of OpenSSL and GnuTLS do not read the kernel's "
            "FIPS flag: the image runs unchanged, but its cryptography is not FIPS-validated, "
            "which a FIPS policy may forbid."
        ),
        evidence=Evidence(image=list(need.ignorers), host=[host_evidence("FIPS mode", fips)]),
        mitigations_image=["use a FIPS-validated base (UBI, or a vendor's FIPS build)"],
    )


MECHANISM: Mechanism[FipsNeeds, FipsOffers] = Mechanism(
    id=ID,
    title="FIPS mode",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=("https://docs.kernel.org/admin-guide/sysctl/crypto.html",),
)
