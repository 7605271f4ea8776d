"""Runtime facts read off real image profiles: symlink resolution, JVM, init, CUDA, iptables."""

from __future__ import annotations

from hostkit import ScanReal

from portwise.image.runtimes import (
    cuda_need,
    iptables,
    jvms,
    resolve,
    systemd_init,
)
from portwise.model.image import FileEntry, ImageConfig


def test_resolve_follows_usrmerge_and_relative_links(real_profile: ScanReal) -> None:
    files = {f.path: f for f in real_profile("debian-bookworm-amd64").files}
    assert resolve(files, "/bin/sh") == "/usr/bin/dash"
    assert resolve(files, "/usr/bin/awk") == "/usr/bin/mawk"  # via /etc/alternatives
    assert resolve(files, "/bin/no-such-program") is None


def test_a_loop_of_links_resolves_to_nothing() -> None:
    loop = {
        "/a": FileEntry("/a", "symlink", 0, link="/b"),
        "/b": FileEntry("/b", "symlink", 0, link="/a"),
    }
    assert resolve(loop, "/a") is None


def test_plain_debian_image_has_none_of_these_runtimes(real_profile: ScanReal) -> None:
    image = real_profile("debian-bookworm-amd64")
    assert (jvms(image), systemd_init(image), cuda_need(image), iptables(image)) == (
        (),
        None,
        None,
        None,
    )


def test_jvm_found_by_its_files_alone(real_profile: ScanReal) -> None:
    base = real_profile("debian-bookworm-amd64")
    java = FileEntry("/opt/java/openjdk/bin/java", "file", 1)
    (jvm,) = jvms(base.model_copy(update={"files": [*base.files, java]}))
    assert (jvm.feature, jvm.evidence) == (
        None,
        "file /opt/java/openjdk/bin/java (version not recorded)",
    )


def test_init_is_read_from_the_entrypoint_before_the_command(real_profile: ScanReal) -> None:
    base = real_profile("debian-bookworm-amd64")
    wrapped = base.model_copy(
        update={"config": ImageConfig(entrypoint=["/docker-entrypoint.sh"], cmd=["/sbin/init"])}
    )
    assert systemd_init(wrapped) is None
    direct = base.model_copy(update={"config": ImageConfig(cmd=["/sbin/init"])})
    init = systemd_init(direct)
    assert init is not None and init.version is None
