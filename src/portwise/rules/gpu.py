"""GPU: the CUDA release an image is built for against the host's NVIDIA driver.

The user-space CUDA runtime (libcudart) in the image talks to the kernel driver on the host,
which must be at least the version NVIDIA lists for that toolkit release. NVIDIA's container
hook checks NVIDIA_REQUIRE_CUDA before the container starts ("unsatisfied condition:
cuda>=11.0, please update your driver"); its `brand=...,driver>=N,driver<M` alternatives admit
older data-centre drivers that work only with the forward-compatibility package. Since CUDA 11,
a toolkit also runs on the oldest driver of its major family with a reduced feature set (minor
version compatibility), which is how bundled runtimes (PyTorch wheels) survive older drivers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portwise.image.runtimes import cuda_need
from portwise.knowledge import incidents
from portwise.knowledge.cuda import family_minimum, minimum_driver
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding, Severity
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact
from portwise.versions import version_key

ID = "gpu"
NO_DRIVER = "no NVIDIA driver"  # how the host reader says the driver is absent, not unread
_RANGE = re.compile(r"driver>=(\d+(?:\.\d+)*)(?:,driver<(\d+(?:\.\d+)*))?")


@dataclass(frozen=True, slots=True)
class GpuNeeds:
    cuda: str | None  # major.minor; None when the image names CUDA without a version
    declared: bool  # NVIDIA_REQUIRE_CUDA / CUDA_VERSION: a CUDA base image, not a bundled lib
    enforced: bool  # the container hook checks NVIDIA_REQUIRE_CUDA (not disabled)
    brand_ranges: tuple[tuple[str, str | None], ...]  # driver ranges of brand= alternatives
    evidence: str


@dataclass(frozen=True, slots=True)
class GpuOffers:
    driver: Known[str]


def needs(image: ImageProfile) -> GpuNeeds | None:
    need = cuda_need(image)
    if need is None:
        return None
    ranges = tuple(
        (m.group(1), m.group(2))
        for alternative in (need.require or "").split()
        if alternative.startswith("brand=")
        for m in [_RANGE.search(alternative)]
        if m
    )
    declared = need.require is not None or need.evidence.startswith("env CUDA_VERSION")
    enforced = need.require is not None and not need.disable_require
    return GpuNeeds(need.version, declared, enforced, ranges, need.evidence)


def offers(host: HostProfile) -> GpuOffers:
    return GpuOffers(known(host.gpu.nvidia_driver))


def judge(need: GpuNeeds | None, offer: GpuOffers) -> tuple[Finding, ...]:
    if need is None:
        return ()
    ids = incidents.matching(ID, case="driver-too-old")
    driver = offer.driver
    if driver.value is None:
        if (driver.unknown or "").startswith(NO_DRIVER):
            return (_no_driver(need, driver),)
        return (
            unknown_fact(
                ID,
                "driver-unknown",
                fact="NVIDIA driver version",
                fact_value=driver,
                why_needed=f"The image is built for CUDA {need.cuda or '(version unknown)'}, "
                "which needs a minimum host driver.",
                image_evidence=[need.evidence],
                incidents=ids,
                references=incidents.references(ids),
            ),
        )
    if need.cuda is None:
        return (_finding(need, driver, "risk", "cuda-version-unknown", None, ids),)
    row = minimum_driver(need.cuda)
    if row is None:
        return ()  # older than every listed release: every listed driver runs it
    have, want = version_key(driver.value), version_key(row.min_driver)
    if have >= want:
        if version_key(need.cuda) > version_key(row.cuda):
            return (_finding(need, driver, "risk", "cuda-not-in-table", row.min_driver, ids),)
        return ()
    if have[0] == want[0]:
        return (_finding(need, driver, "risk", "driver-branch-boundary", row.min_driver, ids),)
    if need.enforced and any(_within(have, r) for r in need.brand_ranges):
        return (_finding(need, driver, "risk", "forward-compat-only", row.min_driver, ids),)
    family = family_minimum(version_key(need.cuda)[0])
    if not need.enforced and family and have >= version_key(family.min_driver):
        return (_finding(need, driver, "risk", "minor-version-compat", row.min_driver, ids),)
    return (_finding(need, driver, "fail", "driver-too-old", row.min_driver, ids),)


def _within(have: tuple[int, ...], bounds: tuple[str, str | None]) -> bool:
    low, high = bounds
    return have >= version_key(low) and (high is None or have < version_key(high))


_TEXT = {
    "driver-too-old": (
        "the host's NVIDIA driver is too old for this image's CUDA {cuda}",
        "CUDA {cuda} needs driver {min} or newer; this driver's CUDA runtime interface is "
        "older, so the container hook refuses to start it ('unsatisfied condition: "
        "cuda>={cuda}') or CUDA calls fail with 'driver version is insufficient'.",
    ),
    "driver-branch-boundary": (
        "the host's NVIDIA driver is at the edge of what CUDA {cuda} needs",
        "NVIDIA lists driver {min} for CUDA {cuda}; this driver is of the same branch but an "
        "earlier build. The GA release may accept it, a later update may not.",
    ),
    "forward-compat-only": (
        "CUDA {cuda} on this driver works only on data-centre GPUs with the compat package",
        "The driver is older than {min}, but the image's NVIDIA_REQUIRE_CUDA admits it for "
        "some GPU brands through the CUDA forward-compatibility package; the host profile does "
        "not record the GPU brand.",
    ),
    "minor-version-compat": (
        "CUDA {cuda} runs on this older driver only with a reduced feature set",
        "The driver is older than {min} but of CUDA's minor-version-compatible family: most "
        "kernels run, PTX JIT compilation and newer APIs fail with "
        "cudaErrorUnsupportedPtxVersion or 'driver version is insufficient'.",
    ),
    "cuda-not-in-table": (
        "CUDA {cuda} is newer than portwise's driver table",
        "The driver meets {min}, the newest minimum portwise knows for this CUDA major, but "
        "CUDA {cuda} may need a newer one.",
    ),
    "cuda-version-unknown": (
        "the image uses CUDA but portwise cannot read which version",
        "Without the version portwise cannot compare it with the host driver.",
    ),
}


def _finding(
    need: GpuNeeds,
    driver: Known[str],
    severity: Severity,
    case: str,
    minimum: str | None,
    ids: list[str],
) -> Finding:
    title, text = _TEXT[case]
    values = {"cuda": need.cuda or "?", "min": minimum or "?"}
    return Finding(
        id=f"{ID}.{case}",
        mechanism=ID,
        severity=severity,
        title=title.format(**values),
        explanation=text.format(**values),
        evidence=Evidence(image=[need.evidence], host=[host_evidence("NVIDIA driver", driver)]),
        mitigations_host=[f"upgrade the NVIDIA driver to {minimum} or newer"] if minimum else [],
        mitigations_image=["use an image built for an older CUDA release (e.g. an older tag)"],
        unknown=["CUDA version"] if case == "cuda-version-unknown" else [],
        incidents=ids,
        references=[*incidents.references(ids), _SOURCE],
    )


def _no_driver(need: GpuNeeds, driver: Known[str]) -> Finding:
    severity: Severity = "fail" if need.declared else "risk"
    return Finding(
        id=f"{ID}.no-driver",
        mechanism=ID,
        severity=severity,
        title=f"a CUDA {need.cuda or ''} image on a host with no NVIDIA driver".replace("  ", " "),
        explanation=(
            "No NVIDIA kernel driver is loaded, so no GPU reaches the container and every CUDA "
            "call fails. "
            + (
                "The image is a CUDA base image: its GPU work cannot run here."
                if need.declared
                else "The CUDA runtime is bundled (a framework wheel); some frameworks fall "
                "back to the CPU."
            )
        ),
        evidence=Evidence(image=[need.evidence], host=[host_evidence("NVIDIA driver", driver)]),
        mitigations_host=["schedule the image on a GPU node with the NVIDIA driver"],
    )


_SOURCE = "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html"

MECHANISM: Mechanism[GpuNeeds | None, GpuOffers] = Mechanism(
    id=ID,
    title="CUDA and the NVIDIA driver",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=(
        _SOURCE,
        "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html",
    ),
)
