"""One CheckReport with a PASS, a RISK (an unknown host fact) and a FAIL (evidence, incidents).

The findings follow real cases: the clone3 EPERM of Docker 20.10.9's default seccomp profile
on glibc 2.34+ images, and a host profile that does not record its page size.
"""

from __future__ import annotations

import pytest

from portwise.model.verdict import CheckReport, Evidence, Finding, Verdict, status_of

IMAGE = "oci:./layout:trixie"
PLATFORM = "linux/amd64"
ARM_IMAGE = "docker-archive:esbuild-arm64.tar"

CLONE3 = Finding(
    id="seccomp.eperm",
    mechanism="seccomp",
    severity="fail",
    title="clone3 is refused with EPERM, and glibc falls back only on ENOSYS",
    explanation=(
        "The engine's default seccomp profile predates clone3 and answers it with EPERM. "
        "glibc 2.34+ calls clone3 first and retries clone only on ENOSYS, so creating a "
        "thread fails."
    ),
    evidence=Evidence(
        image=["/usr/lib/x86_64-linux-gnu/libc.so.6 (glibc 2.41) calls clone3 in pthread_create"],
        host=["docker 20.10.9 default seccomp profile: clone3 -> SCMP_ACT_ERRNO(EPERM)"],
    ),
    mitigations_host=["upgrade docker to 20.10.10 or later (clone3 -> ENOSYS)"],
    mitigations_image=["run with --security-opt seccomp=<profile allowing clone3>"],
    incidents=["clone3-eperm-docker-20.10.9"],
    references=["https://github.com/moby/moby/pull/42836", "moby issue 42680"],
)
FACCESSAT2 = Finding(
    id="seccomp.eperm",
    mechanism="seccomp",
    severity="fail",
    title="faccessat2 is refused with EPERM, and glibc falls back only on ENOSYS",
    explanation="dash's [ -x f ] calls faccessat2, which the profile refuses with EPERM.",
    evidence=Evidence(image=["/usr/bin/dash"], host=["faccessat2 -> SCMP_ACT_ERRNO(EPERM)"]),
    mitigations_host=["upgrade docker to 20.10.10 or later (clone3 -> ENOSYS)"],
)
PAGE_SIZE = Finding(
    id="pagesize.unknown-host",
    mechanism="pagesize",
    severity="risk",
    title="unknown host fact: kernel page size",
    explanation=(
        "Binaries whose PT_LOAD segments are aligned to 4 KiB do not load on a 64 KiB-page "
        "kernel. The host profile does not record its page size."
    ),
    evidence=Evidence(
        image=["/usr/bin/python3.13: PT_LOAD align 0x1000"],
        host=["kernel page size unknown: /proc/self/auxv not readable"],
    ),
    mitigations_host=["record kernel page size in the host profile (run `portwise host`)"],
    unknown=["host.kernel.page_size"],
)
ABI_NOTE = Finding(
    id="kernel.abi-tag",
    mechanism="kernel",
    severity="info",
    title="binaries need kernel 3.2.0 or later; the host runs 6.1",
    explanation="The .note.ABI-tag minimum kernel is met.",
)


EXEC_FORMAT = Finding(
    id="arch.exec-format-error",
    mechanism="arch",
    severity="fail",
    title="aarch64 image on a x86_64 host with no emulator: exec format error",
    explanation="The kernel cannot execute an ELF file for a foreign machine.",
    evidence=Evidence(
        image=["/usr/bin/esbuild: ELF aarch64"],
        host=["kernel architecture x86_64 (from uname)", "binfmt_misc: no qemu-aarch64"],
    ),
    mitigations_host=["register qemu-user-static for aarch64 with the F flag"],
    mitigations_image=["build a linux/amd64 variant of the image"],
    incidents=["exec-format-error-arch"],
)


def verdict(host: str, *findings: Finding, image: str = IMAGE, platform: str = PLATFORM) -> Verdict:
    return Verdict(
        image=image,
        platform=platform,
        host=host,
        status=status_of(findings),
        findings=list(findings),
        mechanisms=["arch", "kernel", "pagesize", "seccomp"],
    )


@pytest.fixture
def report() -> CheckReport:
    return CheckReport(
        portwise_version="0.1.0",
        knowledge={"seccomp": "2024-06", "incidents": "1"},
        verdicts=[
            verdict("debian-12-podman-4.3", ABI_NOTE),
            verdict("custom-arm-node", PAGE_SIZE, ABI_NOTE),
            verdict("ubuntu-20.04-docker-20.10.9", ABI_NOTE, CLONE3, FACCESSAT2, PAGE_SIZE),
            verdict("debian-12-podman-4.3", EXEC_FORMAT, image=ARM_IMAGE, platform="linux/arm64"),
        ],
    )
