"""Language runtimes recognised from the image's files, with no package database to list them.

Real files where they can be had here: GLib, libuv and OpenSSL from Debian packages (unpacked,
not installed: no dpkg status lists them), a Go program built in the test with Debian's go, a
Rust program built with rustc when this machine has one. A JDK's `release` file and a Node.js
executable are stand-ins: the release file is the few lines a JDK ships, and the `node` file is
a small real ELF with the two strings the analyzer reads from Node.js (its release URL and
libuv's version beside libuv's source paths) appended, as found in Node.js 20's binary.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from imagekit import OciLayout, file, layer_tar

from portwise.image.analyzers.runtimeversions import (
    RuntimeVersionsAnalyzer,
    elf_section,
    parse_release,
)
from portwise.image.langruntimes import (
    detect,
    glib_version,
    reactions_for,
    runtimes_for,
    upstream_version,
)
from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile, RuntimeComponent

TRUE = Path("/usr/bin/true")  # a small real ELF executable of this machine
MULTIARCH = "usr/lib/x86_64-linux-gnu"


def scan_root(root: Path, tmp_path: Path) -> ImageProfile:
    (profile,) = scan(f"rootfs:{root}", ScanOptions(cache_dir=tmp_path / "cache"))
    return profile


def of(profile: ImageProfile, component: str) -> list[RuntimeComponent]:
    return [r for r in profile.runtimes if r.component == component]


def deb_version(root: Path) -> str:
    """The upstream version of the .deb the debian_package fixture unpacked into `root`."""
    deb = (root.parent / ".complete").read_text()  # name_version_arch.deb
    return upstream_version(deb.split("_")[1].replace("%3a", ":"))


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


# ------------------------------------------------------------------------------ pure parts


def test_glib_file_names_and_package_versions() -> None:
    assert glib_version("7400", "6") == "2.74.6"
    assert glib_version("6600", "8") == "2.66.8"
    assert glib_version("7302", "0") == "2.73.2"  # a development release: interface age 0
    assert upstream_version("2.74.6-2+deb12u5") == "2.74.6"
    assert upstream_version("1:3.0.19-1~deb12u1") == "3.0.19"
    assert upstream_version("3.11.2") == "3.11.2"


def test_release_file_and_elf_comment(tmp_path: Path) -> None:
    release = b'IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="21.0.2"\nOS_NAME="Linux"\n'
    assert parse_release(release) == {
        "component": "openjdk",
        "version": "21.0.2",
        "evidence": 'JAVA_VERSION="21.0.2" (IMPLEMENTOR="Eclipse Adoptium")',
    }
    assert parse_release(b"VERSION=1\n") is None
    # Debian strips .comment from its packages; a program gcc builds here keeps it
    gcc = shutil.which("gcc")
    if gcc is not None:
        (tmp_path / "a.c").write_text("int main(void) { return 0; }\n")
        subprocess.run([gcc, "-o", str(tmp_path / "a"), str(tmp_path / "a.c")], check=True)
        comment = elf_section((tmp_path / "a").read_bytes(), b".comment")
        assert comment is not None and comment.startswith(b"GCC: ")
    assert elf_section(TRUE.read_bytes(), b".comment") is None
    assert elf_section(b"not an elf" * 10, b".comment") is None
    assert elf_section(TRUE.read_bytes()[:200], b".comment") is None  # headers cut off


def test_analyzer_wants_only_release_files_and_binaries() -> None:
    analyzer = RuntimeVersionsAnalyzer()
    assert analyzer.wants("opt/java/openjdk/release", 1200, 0o644)
    assert not analyzer.wants("opt/java/openjdk/release", 1 << 20, 0o644)
    assert analyzer.wants("usr/lib/x86_64-linux-gnu/libuv.so.1.0.0", 200_000, 0o644)
    assert analyzer.wants("usr/bin/node", 90_000_000, 0o755)
    assert not analyzer.wants("usr/share/doc/README", 200_000, 0o644)
    assert analyzer.analyze("usr/bin/true", TRUE.read_bytes()) is None


# ------------------------------------------------------------------------------ real libraries


def test_debian_glib_libuv_openssl_unpacked_without_a_package_database(
    tmp_path: Path, debian_package: Callable[[str], Path]
) -> None:
    root = tmp_path / "root"
    sources = {name: debian_package(name) for name in ("libglib2.0-0", "libuv1", "libssl3")}
    for source in sources.values():
        copy_tree(source, root)
    profile = scan_root(root, tmp_path)
    assert profile.packages == []

    glib = {r.location.rsplit("/", 1)[1]: r for r in of(profile, "glib")}
    assert {name.split("-2.0")[0] for name in glib} >= {"libglib", "libgio", "libgobject"}
    assert {r.version for r in glib.values()} == {deb_version(sources["libglib2.0-0"])}
    assert all(r.evidence.startswith("library file name") for r in glib.values())

    (uv,) = of(profile, "libuv")
    assert uv.version == deb_version(sources["libuv1"])
    assert uv.location == f"/{MULTIARCH}/libuv.so.1.0.0" and "uv_version_string" in uv.evidence

    ssl = {r.location.rsplit("/", 1)[1]: r for r in of(profile, "openssl")}
    assert set(ssl) >= {"libcrypto.so.3", "libssl.so.3"}
    assert {r.version for r in ssl.values()} == {deb_version(sources["libssl3"])}
    assert "banner" in ssl["libcrypto.so.3"].evidence
    assert "version of" in ssl["libssl.so.3"].evidence  # libssl carries none of its own

    # a detected profile is stable under detection
    assert detect(profile) == tuple(profile.runtimes)

    # one binary's runtimes: the GIO library links GLib (DT_NEEDED libglib-2.0.so.0)
    gio = glib[
        "libgio-2.0.so.0." + next(n for n in glib if n.startswith("libgio")).split(".so.0.")[1]
    ]
    linked = runtimes_for(profile, gio.location)
    assert {r.component for r in linked} == {"glib"}
    assert any(r.location.endswith(".so.0." + gio.location.split(".so.0.")[1]) for r in linked)
    calls = reactions_for(profile, gio.location, "pidfd_open")
    assert calls and all(
        c.reactions and c.reactions[0].outcome("EPERM") == "fallback" for c in calls
    )


def test_go_binary_built_with_debian_go(tmp_path: Path) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Debian's go is not installed")
    source = tmp_path / "src" / "main.go"
    source.parent.mkdir()
    source.write_text(
        'package main\nimport ("fmt"; "os/exec")\n'
        'func main() { fmt.Println(exec.Command("true").Run()) }\n'
    )
    root = tmp_path / "root"
    binary = root / "srv" / "app"
    binary.parent.mkdir(parents=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CGO_ENABLED": "0",
        "GOCACHE": str(tmp_path / "gocache"),
        "GOFLAGS": "-mod=mod",
        "GO111MODULE": "off",
    }
    subprocess.run(
        [go, "build", "-o", str(binary), str(source)],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    version = subprocess.run(
        [go, "env", "GOVERSION"], check=True, env=env, capture_output=True, text=True
    ).stdout.strip()
    profile = scan_root(root, tmp_path)

    (runtime,) = runtimes_for(profile, "/srv/app")
    assert runtime.component == "go" and runtime.version == version.removeprefix("go")
    assert runtime.evidence == f"Go build info ({version})"
    (thread,) = reactions_for(profile, "/srv/app", "clone")
    assert thread.reactions[0].on_failure == "fatal"
    # Debian bookworm's go is 1.19: no pidfd use (it started with 1.23), so no caller entry
    if runtime.version is not None and runtime.version.startswith("1.19"):
        (pidfd,) = reactions_for(profile, "/srv/app", "pidfd_open")
        assert pidfd.reactions == ()


def test_rust_binary_carries_its_rustc_version(tmp_path: Path) -> None:
    rustc = shutil.which("rustc") or shutil.which(str(Path.home() / ".cargo/bin/rustc"))
    if rustc is None:
        pytest.skip("no rustc on this machine")
    source = tmp_path / "main.rs"
    source.write_text('fn main() { println!("{:?}", std::fs::metadata("/")); }\n')
    root = tmp_path / "root"
    binary = root / "usr" / "local" / "bin" / "tool"
    binary.parent.mkdir(parents=True)
    subprocess.run(
        [rustc, "-O", "-C", "strip=symbols", "-o", str(binary), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    expected = subprocess.run(
        [rustc, "--version"], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    profile = scan_root(root, tmp_path)
    (runtime,) = runtimes_for(profile, "/usr/local/bin/tool")
    assert runtime.component == "rust-std" and runtime.version == expected
    (statx,) = reactions_for(profile, "/usr/local/bin/tool", "statx")
    assert statx.reactions[0].outcome("EPERM") == "fallback"


# ------------------------------------------------------------------------------ unpacked trees


def test_jdk_in_opt_relocated_python_and_node_tarball(tmp_path: Path) -> None:
    elf = TRUE.read_bytes()
    node = (
        elf
        + b"\x00https://nodejs.org/download/release/v20.11.1/node-v20.11.1.tar.gz\x00"
        + b"\x00uv_loop_delete\x001.46.0\x00../deps/uv/src/unix/async.c\x00"
    )
    layout = OciLayout(tmp_path / "img")
    layout.add_image(
        [
            layer_tar(
                [
                    file("opt/java/openjdk/release", 'JAVA_VERSION="22.0.1"\nOS_NAME="Linux"\n'),
                    file("opt/java/openjdk/bin/java", elf, mode=0o755),
                    file("opt/java/openjdk/lib/libnio.so", elf),
                    file("opt/python/bin/python3.12", elf, mode=0o755),
                    file("opt/python/lib/python3.12/lib-dynload/_json.cpython-312.so", elf),
                    file("usr/local/bin/node", node, mode=0o755),
                    file(f"{MULTIARCH}/libglib-2.0.so.0.7200.4", elf),
                    # files named like an interpreter that are not one (Debian ships these)
                    file("usr/share/lintian/overrides/python3.11", "python3.11: some-tag\n"),
                    file("usr/share/binfmts/python3.11", "package python3.11\n"),
                ]
            ),
            # a later layer deletes GLib: it must not be reported
            layer_tar([file(f"{MULTIARCH}/.wh.libglib-2.0.so.0.7200.4")]),
        ]
    )
    (profile,) = scan(f"oci:{layout.root}", ScanOptions(cache_dir=tmp_path / "c"))

    assert of(profile, "glib") == []
    (jdk,) = of(profile, "openjdk")
    assert (jdk.version, jdk.location) == ("22.0.1", "/opt/java/openjdk")
    assert runtimes_for(profile, "/opt/java/openjdk/lib/libnio.so") == (jdk,)
    (statx,) = reactions_for(profile, "/opt/java/openjdk/bin/java", "statx")
    assert statx.reactions[0].outcome("EPERM") == "error-returned"

    (python,) = of(profile, "cpython")
    assert (python.version, python.location) == ("3.12", "/opt/python/bin/python3.12")
    module = "/opt/python/lib/python3.12/lib-dynload/_json.cpython-312.so"
    assert runtimes_for(profile, module) == (python,)
    # a wheel's modules in another directory: by their ABI tag, or any CPython for abi3
    wheel = "/srv/venv/lib/python3/site-packages/fast/_speed.cpython-312-x86_64-linux-gnu.so"
    assert runtimes_for(profile, wheel) == (python,)
    assert runtimes_for(profile, "/srv/site-packages/x/_x.abi3.so") == (python,)
    assert runtimes_for(profile, "/srv/site-packages/x/_x.cpython-311-x86_64-linux-gnu.so") == ()

    by_component = {r.component: r for r in runtimes_for(profile, "/usr/local/bin/node")}
    assert by_component["nodejs"].version == "20.11.1"
    assert by_component["libuv"].version == "1.46.0"
    assert "bundled libuv" in by_component["libuv"].evidence
    calls = {
        c.runtime.component: c.reactions
        for c in reactions_for(profile, "/usr/local/bin/node", "copy_file_range")
    }
    assert "nodejs" not in calls  # the caller model speaks of libuv, not of node itself
    assert calls["libuv"][0].outcome("EPERM") == "error-returned"


def test_package_versions_complete_what_file_names_leave_open(tmp_path: Path) -> None:
    elf = TRUE.read_bytes()
    status = (
        "Package: libpython3.11-minimal\nStatus: install ok installed\nArchitecture: amd64\n"
        "Version: 3.11.2-6+deb12u6\n\n"
        "Package: libuv1\nStatus: install ok installed\nArchitecture: amd64\n"
        "Version: 1.44.2-1+deb12u1\n"
    )
    layout = OciLayout(tmp_path / "img")
    layout.add_image(
        [
            layer_tar(
                [
                    file("var/lib/dpkg/status", status),
                    file(f"{MULTIARCH}/libpython3.11.so.1.0", elf),
                    # an ELF libuv without a version string: the package dates it
                    file(f"{MULTIARCH}/libuv.so.1.0.0", elf),
                ]
            )
        ]
    )
    (profile,) = scan(f"oci:{layout.root}", ScanOptions(cache_dir=tmp_path / "c"))
    (python,) = of(profile, "cpython")
    assert python.version == "3.11.2" and "libpython3.11-minimal" in python.evidence
    (uv,) = of(profile, "libuv")
    assert uv.version == "1.44.2" and "dpkg package libuv1" in uv.evidence


def test_real_node_binary_names_itself_and_its_bundled_libuv() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on this machine")
    real = Path(node).resolve()
    versions = subprocess.run(
        [str(real), "-p", "process.version + ' ' + process.versions.uv"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    records = RuntimeVersionsAnalyzer().analyze("usr/bin/node", real.read_bytes())
    found = {r["component"]: r["version"] for r in records or []}
    assert found.get("nodejs") == versions[0].removeprefix("v")
    if "libuv" in found:  # absent when node links the system's libuv.so.1 instead
        assert found["libuv"] == versions[1]


def test_runtimes_survive_the_layer_cache(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image(
        [
            layer_tar(
                [
                    file("opt/jdk/release", 'JAVA_VERSION="17.0.9"\n'),
                    file(
                        "usr/lib/libcrypto.so.3",
                        TRUE.read_bytes() + b"\x00OpenSSL 3.0.11 19 Sep 2023\x00",
                    ),
                ]
            )
        ]
    )
    options = ScanOptions(cache_dir=tmp_path / "c")
    (first,) = scan(f"oci:{layout.root}", options)
    (second,) = scan(f"oci:{layout.root}", options)
    assert second.layers[0].from_cache and not first.layers[0].from_cache
    assert first.runtimes == second.runtimes
    assert {(r.component, r.version) for r in second.runtimes} == {
        ("openjdk", "17.0.9"),
        ("openssl", "3.0.11"),
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "bench-bookworm-python-amd64",
            {"cpython": "libpython3.11-minimal", "openssl": "libssl3", "rust-std": None},
        ),
        # rust-std: python3-cryptography's _rust module and trixie's sqv, built by Debian's
        # rustc, whose version only their /usr/src/rustc-<version>/ paths tell (no package)
        ("debian-trixie-amd64", {"openssl": "libssl3t64", "rust-std": None}),
    ],
)
def test_real_debian_images_name_their_runtimes_as_dpkg_does(
    real_images: Path, tmp_path: Path, name: str, expected: dict[str, str | None]
) -> None:
    """The versions read from the files (banner, file name) agree with dpkg's own list."""
    dpkg = dict(
        line.split("\t")[:2]
        for line in (real_images / "expected" / f"{name}.dpkg.tsv").read_text().splitlines()
        if line
    )
    (profile,) = scan(f"oci:{real_images}/oci/{name}:latest", ScanOptions(cache_dir=tmp_path))
    found = {r.component: r for r in profile.runtimes}
    assert set(expected) <= set(found)  # other components are checked elsewhere
    for component, package in expected.items():
        runtimes = of(profile, component)
        if package is None:
            assert all(r.version and "/usr/src/rustc-" in r.evidence for r in runtimes)
            continue
        assert {r.version for r in runtimes} == {upstream_version(dpkg[package])}, component
    crypto = next(r for r in of(profile, "openssl") if r.location.endswith("/libcrypto.so.3"))
    assert "banner" in crypto.evidence  # read from the library, not taken from dpkg
    if "cpython" in expected:
        (python,) = of(profile, "cpython")
        assert python.location == "/usr/bin/python3.11"
        # the interpreter links no libssl; its _ssl module does, and is tagged cpython-311
        modules = [b.path for b in profile.binaries if "/lib-dynload/_ssl.cpython-311" in b.path]
        assert modules
        by_component = {r.component for r in runtimes_for(profile, modules[0])}
        assert by_component == {"cpython", "openssl"}
        calls = {
            c.runtime.component: c.reactions
            for c in reactions_for(profile, modules[0], "getrandom")
        }
        assert calls["cpython"][0].outcome("EPERM") == "fallback"
        assert calls["openssl"][0].outcome("EPERM") == "error-returned"


def test_system_libraries_and_util_linux_programs_dated_by_their_packages(
    tmp_path: Path,
) -> None:
    """libmount, libbsd and libsystemd by file name, util-linux's programs by name in a bin
    directory; each dated by the package that ships it. A name util-linux shares with shadow
    (login) counts only when its package was built from util-linux, and a program name without
    any util-linux package (busybox's links) is nobody's."""
    elf = TRUE.read_bytes()

    def package(name: str, version: str, source: str | None = None) -> str:
        extra = f"Source: {source}\n" if source else ""
        return (
            f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n{extra}"
            f"Version: {version}\n\n"
        )

    status = (
        package("util-linux", "2.41.5-0+deb13u1")
        + package("libmount1", "2.41.5-0+deb13u1", "util-linux")
        + package("login", "1:4.13+dfsg1-1", "shadow")
        + package("libbsd0", "0.12.2-2", "libbsd")
        + package("libsystemd0", "257.13-1~deb13u1", "systemd")
    )
    files = [
        file("var/lib/dpkg/status", status),
        file("usr/bin/choom", elf, mode=0o755),
        file("usr/bin/setpriv", elf, mode=0o755),
        file("usr/bin/login", elf, mode=0o755),  # shadow's here
        file("usr/share/doc/util-linux/setpriv", "not a program"),
        file(f"{MULTIARCH}/libmount.so.1.1.0", elf),
        file(f"{MULTIARCH}/libbsd.so.0.12.2", elf),
        file(f"{MULTIARCH}/libsystemd.so.0.40.0", elf),
    ]
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(files)])
    (profile,) = scan(f"oci:{layout.root}", ScanOptions(cache_dir=tmp_path / "c"))
    found = {r.location: (r.component, r.version) for r in profile.runtimes}
    assert found["/usr/bin/choom"] == ("util-linux", "2.41.5")
    assert found["/usr/bin/setpriv"] == ("util-linux", "2.41.5")
    assert found[f"/{MULTIARCH}/libmount.so.1.1.0"] == ("util-linux", "2.41.5")
    assert found[f"/{MULTIARCH}/libbsd.so.0.12.2"] == ("libbsd", "0.12.2")
    assert found[f"/{MULTIARCH}/libsystemd.so.0.40.0"] == ("libsystemd", "257.13")
    assert "/usr/bin/login" not in found
    assert "/usr/share/doc/util-linux/setpriv" not in found
    (choom,) = reactions_for(profile, "/usr/bin/choom", "openat2")
    assert choom.reactions[0].outcome("ENOSYS") == "fallback"

    # the same programs with no util-linux package: busybox-style names, no owner known
    bare = OciLayout(tmp_path / "bare")
    bare.add_image([layer_tar([file("usr/bin/choom", elf, mode=0o755)])])
    (profile,) = scan(f"oci:{bare.root}", ScanOptions(cache_dir=tmp_path / "c"))
    assert of(profile, "util-linux") == []
