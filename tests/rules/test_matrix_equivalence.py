"""The property the matrix's speed must keep: grouping, memos and caches change no verdict.

Real Debian images (and copies of them with facts changed, some under the same digest, as a
test or a what-if copy makes them) against every catalog host, each engine apart, and
variants of them: verdict.check must give, pair for pair, the verdict a plain evaluation gives
(every mechanism's judge of its needs of that image and its offers of that host, nothing
shared). Checked twice, the second time in another order, so a cache that answers for the
wrong image or host shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hostkit import ScanReal, fact, host_with, unknown

from portwise.check import engine_views
from portwise.host.catalog import catalog_names, load_catalog_host
from portwise.model.host import HostProfile
from portwise.model.image import ImageConfig, ImageProfile, Package
from portwise.model.verdict import Finding, Verdict, status_of
from portwise.rules import MECHANISMS
from portwise.verdict import check

REAL = (
    "debian-bullseye-amd64",
    "debian-bookworm-amd64",
    "debian-trixie-amd64",
    "debian-bookworm-arm64",
    "derived-bookworm-amd64",
)


def plain(images: Sequence[ImageProfile], hosts: Sequence[HostProfile]) -> list[Verdict]:
    """Every pair on its own: no grouping, no memo, the needs recomputed for each host."""
    out = []
    for image in images:
        for host in hosts:
            findings: list[Finding] = []
            for m in MECHANISMS:
                findings.extend(m.judge(m.needs(image), m.offers(host)))
            out.append(
                Verdict(
                    image=image.reference,
                    platform=str(image.platform),
                    host=host.name,
                    status=status_of(findings),
                    findings=findings,
                    mechanisms=[m.id for m in MECHANISMS],
                )
            )
    return out


def variants(real: ScanReal) -> list[ImageProfile]:
    """The real images, and copies as a fleet and the tests make them: the same content under
    another reference, and changed facts under the same digests (never a sound cache key)."""
    images = [real(name) for name in REAL]
    bookworm, trixie, bullseye = images[1], images[2], images[0]
    summary = trixie.binary_summary
    old_jdk = Package(
        manager="dpkg", name="openjdk-8-jre-headless", version="8u292-b10-3", layer=0, database="t"
    )
    return [
        *images,
        bookworm.model_copy(update={"reference": "registry.example/app:1.0"}),
        bookworm.model_copy(update={"binaries": bookworm.binaries[1:]}),
        trixie.model_copy(
            update={"binary_summary": summary.model_copy(update={"syscalls": summary.syscalls[3:]})}
        ),
        trixie.model_copy(update={"files": trixie.files[: len(trixie.files) // 2]}),
        bookworm.model_copy(update={"packages": [*bookworm.packages, old_jdk]}),
        bookworm.model_copy(
            update={"config": ImageConfig(env=["CUDA_VERSION=11.8.0"], cmd=["/sbin/init"])}
        ),
        bullseye.model_copy(
            update={"libc": [c.model_copy(update={"version": None}) for c in bullseye.libc]}
        ),
        bullseye.model_copy(update={"binaries": [], "files": []}),
    ]


def fleet() -> list[HostProfile]:
    hosts = [view for name in catalog_names() for view in engine_views(load_catalog_host(name))]
    return [
        *hosts,
        hosts[0].model_copy(update={"name": "the first host, named again"}),  # same objects
        host_with("debian-12", "debian-12-64k", kernel__page_size=fact(65536)),
        host_with("debian-12", "debian-12-old-kernel", kernel__release=fact("4.19.0-26-amd64")),
        host_with("debian-12", "debian-12-no-profile", engines__seccomp_profile=unknown()),
        host_with(
            "ubuntu-20.04-docker-20.10.9", "u20-libseccomp", engines__libseccomp=fact("2.4.3")
        ),
        host_with("rhel-9.4", "rhel-9.4-fips", security__fips=fact(True)),
        host_with("debian-12", "debian-12-v1", cgroup__version=fact("v1")),
    ]


@pytest.fixture(scope="module")
def pairs(real_profile: ScanReal) -> tuple[list[ImageProfile], list[HostProfile]]:
    return variants(real_profile), fleet()


def test_grouped_check_gives_every_pair_the_verdict_judged_alone(
    pairs: tuple[list[ImageProfile], list[HostProfile]],
) -> None:
    images, hosts = pairs
    expected = plain(images, hosts)
    assert {v.status for v in expected} >= {"RISK", "FAIL"}  # not vacuous:
    assert len({tuple(f.id for f in v.findings) for v in expected}) > 20  # many distinct answers
    assert check(images, hosts).verdicts() == expected


def test_a_second_check_in_another_order_gives_the_same_verdicts(
    pairs: tuple[list[ImageProfile], list[HostProfile]],
) -> None:
    images, hosts = pairs
    check(images, hosts)  # warms whatever the fast path keeps between calls
    images, hosts = images[::-1], hosts[::-1]
    assert check(images, hosts).verdicts() == plain(images, hosts)
    for image in images:  # one at a time: what a cache keeps for one must not leak to the next
        assert check([image], hosts[:7]).verdicts() == plain([image], hosts[:7])
