"""Runtime thresholds: the JVM cgroup v2 rule per feature release, and the sourced constants."""

from __future__ import annotations

import pytest

from portwise.image.runtimes import parse_java_version
from portwise.knowledge.runtimes import jvm_reads_cgroup_v2, load


@pytest.mark.parametrize(
    ("feature", "update", "aware"),
    [
        (8, 362, False),
        (8, 372, True),
        (11, 15, False),
        (11, 16, True),
        (13, 9, False),
        (14, 2, False),
        (15, 0, True),
        (21, 0, True),
    ],
)
def test_jvm_cgroup_v2_rule(feature: int, update: int, aware: bool) -> None:
    assert jvm_reads_cgroup_v2(feature, update)[0] is aware


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("8u292-b10-3", (8, 292)),
        ("jdk8u372-b07", (8, 372)),
        ("1.8.0_372", (8, 372)),
        ("1.8.0.362.b09-2.el8_7", (8, 362)),
        ("11.0.16+8-1~deb11u1", (11, 16)),
        ("jdk-11.0.16+8", (11, 16)),
        ("17", (17, 0)),
        ("nonsense", None),
    ],
)
def test_java_version_forms(text: str, parsed: tuple[int, int] | None) -> None:
    assert parse_java_version(text) == parsed


def test_constants_carry_sources() -> None:
    data = load()
    assert data.systemd_cgroup_v2.first_version == 230
    assert data.musl_dns_tcp.first_version == "1.2.4"
    assert data.huge_nofile.threshold == 1 << 20
    assert data.rpm_close_all_fds.source.startswith("https://github.com/")
