"""cgroups: JVMs and systemd that read only cgroup v1, judged against v1, v2 and unknown hosts.

The old JDK 8 and CentOS 7 systemd cases are hand-written profiles (the real Debian bookworm
image given one package), because no JDK older than 8u372 and no systemd 219 can be fetched
here; the systemd negative case is Debian's real systemd package.
"""

from __future__ import annotations

from pathlib import Path

from debimage import Unpack, deb_image
from hostkit import ScanReal, fact, host_with, unknown

from portwise.model.image import ImageConfig, ImageProfile, Package
from portwise.rules import cgroups
from portwise.verdict import check

V2 = host_with("debian-12")  # cgroup v2 (catalog)
V1 = host_with("rhel-7.9")  # cgroup v1 (catalog)


def judge(profile: ImageProfile, host=V2):  # type: ignore[no-untyped-def]
    return cgroups.judge(cgroups.needs(profile), cgroups.offers(host))


def with_package(
    base: ImageProfile, manager: str, name: str, version: str, **config: object
) -> ImageProfile:
    package = Package(manager=manager, name=name, version=version, layer=0, database="test")  # type: ignore[arg-type]
    update: dict[str, object] = {"packages": [*base.packages, package]}
    if config:
        update["config"] = base.config.model_copy(update=config)
    return base.model_copy(update=update)


def with_env(base: ImageProfile, *env: str) -> ImageProfile:
    return base.model_copy(update={"config": ImageConfig(env=list(env), cmd=["java"])})


def test_jdk8u292_on_cgroup_v2_is_a_heap_sizing_risk(real_profile: ScanReal) -> None:
    jdk = with_package(
        real_profile("debian-bookworm-amd64"), "dpkg", "openjdk-8-jre-headless", "8u292-b10-3"
    )
    (finding,) = judge(jdk)
    assert (finding.id, finding.severity) == ("cgroups.jvm-v1-only", "risk")
    assert finding.incidents == ["jvm-cgroupv2-unaware"]
    assert finding.evidence.image == ["package openjdk-8-jre-headless 8u292-b10-3"]
    assert any("cgroup version v2" in e for e in finding.evidence.host)
    assert "OOM" in finding.title
    assert judge(jdk, V1) == ()


def test_java_version_env_of_official_images(real_profile: ScanReal) -> None:
    base = real_profile("debian-bookworm-amd64")
    (old,) = judge(with_env(base, "JAVA_VERSION=11.0.13"))
    assert old.id == "cgroups.jvm-v1-only"
    assert judge(with_env(base, "JAVA_VERSION=jdk-11.0.16+8")) == ()
    assert judge(with_env(base, "JAVA_VERSION=jdk8u372-b07")) == ()
    assert judge(with_env(base, "JAVA_VERSION=17.0.5")) == ()
    (mainline,) = judge(with_env(base, "JAVA_VERSION=13.0.2"))
    assert mainline.severity == "risk"


def test_rpm_java_package_versions(real_profile: ScanReal) -> None:
    base = real_profile("debian-bookworm-amd64")
    old = with_package(base, "rpm", "java-1.8.0-openjdk-headless", "1.8.0.362.b09-2.el8_7")
    new = with_package(base, "rpm", "java-1.8.0-openjdk-headless", "1:1.8.0.372.b07-1.el8_7")
    assert [f.id for f in judge(old)] == ["cgroups.jvm-v1-only"]
    assert judge(new) == ()


def test_ibm_j9_is_unconfirmed(real_profile: ScanReal) -> None:
    j9 = with_env(real_profile("debian-bookworm-amd64"), "JAVA_VERSION=1.8.0_sr7fp10")
    (finding,) = judge(j9)
    assert (finding.id, finding.severity) == ("cgroups.jvm-unconfirmed", "risk")
    assert "IBM J9" in finding.evidence.image[0]


def test_unknown_cgroup_version_only_matters_with_such_a_runtime(real_profile: ScanReal) -> None:
    host = host_with("debian-12", cgroup__version=unknown("no cgroup filesystem is mounted"))
    assert judge(real_profile("debian-bookworm-amd64"), host) == ()
    jdk = with_env(real_profile("debian-bookworm-amd64"), "JAVA_VERSION=8u292")
    (finding,) = judge(jdk, host)
    assert finding.unknown == ["cgroup version"]
    assert "no cgroup filesystem is mounted" in finding.explanation


def test_centos7_systemd_as_init_freezes_on_v2(real_profile: ScanReal) -> None:
    el7 = with_package(
        real_profile("debian-bookworm-amd64"),
        "rpm",
        "systemd",
        "219-78.el7_9.9",
        cmd=["/usr/sbin/init"],
    )
    (finding,) = judge(el7)
    assert (finding.id, finding.severity) == ("cgroups.systemd-no-v2", "fail")
    assert finding.incidents == ["centos7-systemd-cgroupv2"]
    assert "219-78.el7_9.9" in finding.evidence.image[0]
    assert judge(el7, host_with("debian-12", cgroup__version=fact("hybrid"))) == ()
    # the same package, not as PID 1: nothing to judge
    assert judge(el7.model_copy(update={"config": ImageConfig(cmd=["bash"])})) == ()


def test_real_debian_systemd_as_init_is_fine_on_v2(tmp_path: Path, debian_package: Unpack) -> None:
    image = deb_image(
        tmp_path, debian_package, ["systemd"], config={"Cmd": ["/lib/systemd/systemd"]}
    )
    assert image.config.cmd == ["/lib/systemd/systemd"]
    assert cgroups.needs(image).runtimes == ()
    assert judge(image) == ()


def test_matrix_through_the_evaluator(real_profile: ScanReal) -> None:
    jdk = with_env(real_profile("debian-bookworm-amd64"), "JAVA_VERSION=8u292")
    matrix = check([jdk], [V1, V2], mechanisms=(cgroups.MECHANISM,))
    assert [matrix.status(0, 0), matrix.status(0, 1)] == ["PASS", "RISK"]
