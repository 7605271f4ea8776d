"""network: the iptables back end an image writes with against the host's, and musl's DNS.

The iptables images hold the real files of Debian bookworm's iptables 1.8.9 package; the
/usr/sbin/iptables -> /etc/alternatives/iptables links are made here as its postinst (through
update-alternatives) would make them. The dockerd and kube-proxy files are empty stand-ins: only
their presence is read. The musl case is Debian's real musl 1.2.3 package.
"""

from __future__ import annotations

from pathlib import Path

from debimage import Unpack, deb_image
from hostkit import ScanReal, fact, host_with, unknown
from imagekit import Item, file, symlink

from portwise.model.host import HostProfile
from portwise.model.image import FileEntry, ImageProfile, Package
from portwise.rules import network

# both tables modules loaded: these hosts differ only in the back end `iptables` drives
BOTH = fact({"ip_tables": "loaded", "nf_tables": "loaded"}, "file /proc/modules")
NFT = host_with(
    "debian-12",
    engines__iptables_backend=fact("nf_tables", "iptables --version"),
    kernel__modules=BOTH,
)
LEGACY = host_with(
    "rhel-7.9", engines__iptables_backend=fact("legacy", "iptables --version"), kernel__modules=BOTH
)


def judge(profile: ImageProfile, host=NFT):  # type: ignore[no-untyped-def]
    return network.judge(network.needs(profile), network.offers(host))


def alternative(backend: str) -> list[Item]:
    return [
        symlink("usr/sbin/iptables", "/etc/alternatives/iptables"),
        symlink("etc/alternatives/iptables", f"/usr/sbin/iptables-{backend}"),
    ]


def iptables_image(tmp: Path, unpack: Unpack, backend: str, *extra: Item) -> ImageProfile:
    return deb_image(tmp, unpack, ["iptables"], extra=[*alternative(backend), *extra])


def test_nft_image_on_a_legacy_host_is_a_risk_without_a_rule_writer(
    tmp_path: Path, debian_package: Unpack
) -> None:
    image = iptables_image(tmp_path, debian_package, "nft")
    (finding,) = judge(image, LEGACY)
    assert (finding.id, finding.severity) == ("network.iptables-backend-mismatch", "risk")
    assert finding.evidence.image == ["iptables /usr/sbin/iptables -> /usr/sbin/xtables-nft-multi"]
    assert finding.evidence.host == ["iptables back end legacy (from test: iptables --version)"]
    assert finding.incidents == ["iptables-nft-vs-legacy-k8s"]
    assert judge(image, NFT) == ()


def test_dind_with_nft_on_a_legacy_host_fails(tmp_path: Path, debian_package: Unpack) -> None:
    image = iptables_image(tmp_path, debian_package, "nft", file("usr/local/bin/dockerd", b""))
    (finding,) = judge(image, LEGACY)
    assert finding.severity == "fail"
    assert "dockerd (docker-in-docker) (/usr/local/bin/dockerd)" in finding.evidence.image[1]
    assert finding.incidents == ["dind-iptables-backend", "iptables-nft-vs-legacy-k8s"]


def test_legacy_kube_proxy_on_an_nft_host_fails(tmp_path: Path, debian_package: Unpack) -> None:
    image = iptables_image(tmp_path, debian_package, "legacy", file("usr/local/bin/kube-proxy"))
    (finding,) = judge(image, NFT)
    assert (finding.severity, finding.incidents) == ("fail", ["iptables-nft-vs-legacy-k8s"])
    assert "with legacy, the host uses nf_tables" in finding.title


def test_unknown_host_back_end_is_a_risk(tmp_path: Path, debian_package: Unpack) -> None:
    image = iptables_image(tmp_path, debian_package, "nft")
    (finding,) = judge(image, host_with("debian-12"))
    assert finding.unknown == ["iptables back end"]
    assert finding.severity == "risk"


def test_runtime_detection_wrapper_is_fine(real_profile: ScanReal) -> None:
    """kubernetes-sigs/iptables-wrappers: the link ends in a script that picks at run time."""
    base = real_profile("debian-bookworm-amd64")
    wrapper = [
        FileEntry("/usr/sbin/iptables", "symlink", 1, link="iptables-wrapper"),
        FileEntry("/usr/sbin/iptables-wrapper", "file", 1),
    ]
    image = base.model_copy(update={"files": [*base.files, *wrapper]})
    assert network.needs(image).backend == "auto"
    assert judge(image, LEGACY) == ()


def test_iptables_before_1_8_is_legacy(real_profile: ScanReal) -> None:
    """Hand-written: iptables 1.6's xtables-multi, as in kube-proxy <= 1.16 (not fetchable here)."""
    base = real_profile("debian-bookworm-amd64")
    files = [
        FileEntry("/usr/sbin/iptables", "symlink", 1, link="xtables-multi"),
        FileEntry("/usr/sbin/xtables-multi", "file", 1),
        FileEntry("/usr/local/bin/kube-proxy", "file", 1),
    ]
    package = Package(
        manager="dpkg",
        name="iptables",
        version="1.6.0+snapshot20161117-6",
        layer=1,
        database="test",
    )
    image = base.model_copy(update={"files": [*base.files, *files], "packages": [package]})
    (finding,) = judge(image, NFT)
    assert network.needs(image).backend == "legacy"
    assert "iptables 1.6 (< 1.8)" in finding.evidence.image[0]
    assert finding.severity == "fail"


def test_old_musl_dns_is_a_risk_on_any_host(tmp_path: Path, debian_package: Unpack) -> None:
    image = deb_image(tmp_path, debian_package, ["musl"])
    for host in (NFT, LEGACY, host_with("debian-12")):
        (finding,) = judge(image, host)
        assert (finding.id, finding.severity) == ("network.musl-dns-no-tcp", "risk")
        assert finding.incidents == ["musl-dns-no-tcp"]
        assert finding.evidence.image == ["musl 1.2.3 (/lib/x86_64-linux-musl/libc.so)"]


def test_plain_debian_image_has_no_network_finding(real_profile: ScanReal) -> None:
    for host in (NFT, LEGACY, host_with("debian-12", engines__iptables_backend=unknown())):
        assert judge(real_profile("debian-bookworm-amd64"), host) == ()


def test_the_back_end_holding_the_rules_is_the_one_packets_traverse(
    tmp_path: Path, debian_package: Unpack
) -> None:
    """`iptables` drives nf_tables here, but every rule on the host is legacy (an engine that
    writes legacy): a legacy kube-proxy matches what the packets traverse, an nft one does not."""
    legacy_rules = host_with(
        "debian-12",
        engines__iptables_backend=fact("nf_tables", "iptables --version"),
        engines__iptables_rules=fact({"legacy": 42, "nf_tables": 0}, "iptables-legacy-save"),
    )
    kube_proxy = file("usr/local/bin/kube-proxy")
    legacy = iptables_image(tmp_path / "a", debian_package, "legacy", kube_proxy)
    assert judge(legacy, legacy_rules) == ()
    nft = iptables_image(tmp_path / "b", debian_package, "nft", kube_proxy)
    found = {f.id: f for f in judge(nft, legacy_rules)}
    # and whether nf_tables is even in that kernel is not recorded: a risk of its own
    assert set(found) == {"network.iptables-backend-mismatch", "network.iptables-module-unknown"}
    finding = found["network.iptables-backend-mismatch"]
    assert finding.severity == "fail"
    assert "legacy 42, nf_tables 0" in finding.evidence.host[0]


def test_a_legacy_image_on_a_kernel_without_ip_tables_fails(
    tmp_path: Path, debian_package: Unpack
) -> None:
    """RHEL 9's kernel has no ip_tables (containers/qm#267): a legacy rule writer cannot load it
    from inside the container. Loaded or built in, it works; not loaded, it is a risk."""
    image = iptables_image(tmp_path, debian_package, "legacy", file("usr/local/bin/kube-proxy"))

    def on(modules: dict[str, str], config: dict[str, str]) -> HostProfile:
        return host_with(
            "debian-12",
            engines__iptables_backend=fact("legacy", "iptables --version"),
            kernel__modules=fact(modules, "file /proc/modules"),
            kernel__config=fact(config, "file /boot/config"),
        )

    (missing,) = judge(image, on({"nf_tables": "loaded"}, {"CONFIG_NF_TABLES": "m"}))
    assert (missing.id, missing.severity) == ("network.iptables-module-missing", "fail")
    assert "CONFIG_IP_NF_IPTABLES is not set" in missing.explanation
    unloaded = judge(image, on({}, {"CONFIG_IP_NF_IPTABLES": "m"}))
    assert [(f.id, f.severity) for f in unloaded] == [("network.iptables-module-missing", "risk")]
    assert judge(image, on({"ip_tables": "loaded"}, {})) == ()
    assert judge(image, on({}, {"CONFIG_IP_NF_IPTABLES": "y"})) == ()
