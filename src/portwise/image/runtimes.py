"""Runtime facts of an image, read off its packages, files, environment and entrypoint.

What a mechanism needs to know about the JVM, systemd as PID 1, the crypto libraries, CUDA and
iptables is already in the ImageProfile; these pure functions name it, each with the evidence a
reader can check (the package and version, the file, the variable). Versions are reported as
found; comparing them with knowledge is the rules' business.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from portwise.lastcall import last_call
from portwise.model.image import FileEntry, ImageProfile, Package

RHEL_FAMILY = frozenset(
    {"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "scientific", "cloudlinux"}
)


@dataclass(frozen=True, slots=True)
class Jvm:
    feature: int | None  # 8, 11, 17...; None when only the presence is known
    update: int | None
    vendor: str  # openjdk | ibm-j9
    evidence: str


@dataclass(frozen=True, slots=True)
class SystemdInit:
    version: int | None
    evidence: str


@dataclass(frozen=True, slots=True)
class CryptoLib:
    library: str  # package name
    version: str
    follows_host_fips: bool
    evidence: str


@dataclass(frozen=True, slots=True)
class CudaNeed:
    version: str | None  # major.minor the image asks for
    require: str | None  # NVIDIA_REQUIRE_CUDA as written
    disable_require: bool
    evidence: str


@dataclass(frozen=True, slots=True)
class Iptables:
    backend: str | None  # nf_tables | legacy | auto (picks at run time) | None (unknown)
    evidence: str
    manager: str | None  # the program that writes rules with it (dockerd, kube-proxy...)


def env_of(image: ImageProfile) -> dict[str, str]:
    return dict(e.partition("=")[::2] for e in image.config.env)


def is_rhel_family(image: ImageProfile) -> bool:
    os = image.os_release
    if os is None:
        return False
    return os.id in RHEL_FAMILY or any(i in ("rhel", "fedora", "centos") for i in os.id_like)


# --- JVM ------------------------------------------------------------------------------------

# 8u372, jdk8u372-b07, 1.8.0_372, 1.8.0.372, 11.0.16, jdk-11.0.16+8, 17.0.5+8, 21
_JVM_VERSION = re.compile(
    r"(?:jdk-?)?(?:1\.(?P<old>[5-8])\.0[._](?P<oldu>\d+)|(?P<u8>[5-8])u(?P<u8u>\d+)"
    r"|(?P<feat>\d{1,2})(?:\.\d+\.(?P<upd>\d+))?)"
)
_JVM_PACKAGES = re.compile(r"^(?:openjdk-\d+-jre|openjdk\d+-jre|java-(?:1\.8\.0|\d+)-openjdk)")
_JVM_DIRS = ("/usr/lib/jvm/", "/opt/java/openjdk/")


def parse_java_version(text: str) -> tuple[int, int] | None:
    """(feature, update) from a package version or JAVA_VERSION value; None if unreadable."""
    m = _JVM_VERSION.match(text.strip())
    if not m:
        return None
    if m["old"]:
        return int(m["old"]), int(m["oldu"])
    if m["u8"]:
        return int(m["u8"]), int(m["u8u"])
    return int(m["feat"]), int(m["upd"] or 0)


def _rpm_java(package: Package) -> tuple[int, int] | None:
    # java-1.8.0-openjdk-headless 1.8.0.372.b07-1.el7_9; java-11-openjdk 11.0.16.0.8-1.el8
    return parse_java_version(package.version.split(":")[-1])


def jvms(image: ImageProfile) -> tuple[Jvm, ...]:
    found: list[Jvm] = []
    for p in image.packages:
        if _JVM_PACKAGES.match(p.name):
            parsed = (
                _rpm_java(p) if p.manager == "rpm" else parse_java_version(p.version.split(":")[-1])
            )
            found.append(_jvm(parsed, "openjdk", f"package {p.name} {p.version}"))
    env = env_of(image)
    if "JAVA_VERSION" in env:
        value = env["JAVA_VERSION"]
        vendor = "ibm-j9" if "_sr" in value or "ibm" in value.lower() else "openjdk"
        found.append(_jvm(parse_java_version(value), vendor, f"env JAVA_VERSION={value}"))
    if not found:
        index = file_index(image)
        release = next((f for f in index.named("release") if f.path.startswith(_JVM_DIRS)), None)
        java = next(
            (
                f
                for f in index.named("java")
                if f.path.startswith(_JVM_DIRS) and f.path.endswith("/bin/java")
            ),
            None,
        )
        if java is not None or release is not None:
            entry = java or release
            assert entry is not None
            found.append(Jvm(None, None, "openjdk", f"file {entry.path} (version not recorded)"))
    return tuple(dict.fromkeys(found))


def _jvm(parsed: tuple[int, int] | None, vendor: str, evidence: str) -> Jvm:
    if parsed is None:
        return Jvm(None, None, vendor, evidence)
    return Jvm(parsed[0], parsed[1], vendor, evidence)


# --- systemd as PID 1 ----------------------------------------------------------------------

INIT_PATHS = frozenset(
    {"/sbin/init", "/usr/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd"}
)


def systemd_init(image: ImageProfile) -> SystemdInit | None:
    """systemd when the entrypoint (or, without one, the command) starts it as PID 1."""
    argv = image.config.entrypoint or image.config.cmd or []
    if not argv or argv[0] not in INIT_PATHS:
        return None
    package = next((p for p in image.packages if p.name == "systemd"), None)
    if package is None:
        return SystemdInit(None, f"entrypoint {argv[0]} (no systemd package recorded)")
    m = re.match(r"(?:\d+:)?(\d+)", package.version)
    version = int(m.group(1)) if m else None
    return SystemdInit(version, f"entrypoint {argv[0]}; package systemd {package.version}")


# --- crypto libraries and FIPS -------------------------------------------------------------

# RHEL-family builds read /proc/sys/crypto/fips_enabled at start-up and switch to FIPS mode;
# the upstream and Debian/Alpine builds of the same libraries do not.
_FIPS_FOLLOWERS = ("openssl-libs", "openssl", "gnutls", "libgcrypt", "nss", "nss-softokn")
_CRYPTO = ("openssl", "libssl", "libgnutls", "gnutls", "libgcrypt", "nss", "libnss3")


def crypto_libraries(image: ImageProfile) -> tuple[CryptoLib, ...]:
    rhel = is_rhel_family(image)
    found = []
    for p in image.packages:
        if p.manager == "rpm" and rhel and p.name in _FIPS_FOLLOWERS:
            found.append(CryptoLib(p.name, p.version, True, _pkg(p)))
        elif p.name.startswith(_CRYPTO) and not p.name.endswith(("-doc", "-dev", "-devel")):
            found.append(CryptoLib(p.name, p.version, False, _pkg(p)))
    return tuple(found)


def _pkg(p: Package) -> str:
    return f"{p.manager} package {p.name} {p.version}"


# --- CUDA ----------------------------------------------------------------------------------

_CUDART = re.compile(r"/libcudart\.so\.(\d+)(?:\.(\d+))?")
_REQUIRE = re.compile(r"cuda>=(\d+\.\d+)")


def cuda_need(image: ImageProfile) -> CudaNeed | None:
    env = env_of(image)
    disable = env.get("NVIDIA_DISABLE_REQUIRE", "").lower() in ("1", "true", "yes")
    require = env.get("NVIDIA_REQUIRE_CUDA")
    if require:
        m = _REQUIRE.search(require)
        return CudaNeed(
            m.group(1) if m else None, require, disable, f"env NVIDIA_REQUIRE_CUDA={require}"
        )
    if "CUDA_VERSION" in env:
        m = re.match(r"(\d+\.\d+)", env["CUDA_VERSION"])
        version = m.group(1) if m else None
        return CudaNeed(version, None, disable, f"env CUDA_VERSION={env['CUDA_VERSION']}")
    # libcudart.so.12.4.127 (toolkit) or libcudart.so.12 (pip wheels: the major alone, read
    # as X.0, the oldest release of that family)
    best: tuple[tuple[int, int], str] | None = None
    for f in file_index(image).starting("libcudart.so"):
        m = _CUDART.search(f.path)
        if m:
            key = (int(m.group(1)), int(m.group(2) or 0))
            if best is None or key > best[0]:
                best = (key, f.path)
    if best is not None:
        (major, minor), path = best
        return CudaNeed(f"{major}.{minor}", None, disable, f"file {path}")
    return None


# --- file index ------------------------------------------------------------------------------


# Base names and prefixes the mechanisms look for; the index holds only these, found by one
# regular expression over the joined paths (a Python loop over every file cost 7 ms an image).
INDEXED_NAMES = (
    "release",
    "java",
    "iptables",
    "dockerd",
    "kube-proxy",
    "calico-node",
    "weaver",
    "flanneld",
    "kube-router",
    "felix",
)
INDEXED_PREFIXES = ("libcudart.so", "libjemalloc")
_INDEXED = re.compile(
    "/(?:"
    + "|".join(
        [re.escape(n) for n in INDEXED_NAMES] + [re.escape(p) + "[^/\n]*" for p in INDEXED_PREFIXES]
    )
    + ")(?=\n|\\Z)"
)


@dataclass(frozen=True, slots=True)
class FileIndex:
    """The image's files with the base names the mechanisms ask about (INDEXED_*)."""

    by_name: dict[str, list[FileEntry]]
    files: list[FileEntry]

    def named(self, *names: str) -> list[FileEntry]:
        unknown = [n for n in names if n not in INDEXED_NAMES]
        if unknown:
            raise KeyError(f"not indexed: {unknown}")
        return [f for n in names for f in self.by_name.get(n, ())]

    def starting(self, prefix: str) -> list[FileEntry]:
        if not prefix.startswith(INDEXED_PREFIXES):
            raise KeyError(f"not indexed: {prefix}")
        return [f for n, fs in self.by_name.items() if n.startswith(prefix) for f in fs]

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}


@last_call
def file_index(image: ImageProfile) -> FileIndex:
    """Built once per image; the last one is kept, as every mechanism asks in turn."""
    files = image.files
    text = "\n".join(map(attrgetter("path"), files))
    by_name: dict[str, list[FileEntry]] = {}
    line, counted = 0, 0  # matches come in order: count the newlines between them only
    for m in _INDEXED.finditer(text):
        line += text.count("\n", counted, m.start())
        counted = m.start()
        by_name.setdefault(m.group(0)[1:], []).append(files[line])
    return FileIndex(by_name, files)


# --- iptables ------------------------------------------------------------------------------

IPTABLES = ("/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables", "/bin/iptables")
_MANAGERS = {
    "dockerd": "dockerd (docker-in-docker)",
    "kube-proxy": "kube-proxy",
    "calico-node": "calico-node",
    "weaver": "weave",
    "flanneld": "flannel",
    "kube-router": "kube-router",
    "felix": "calico felix",
}
_WRAPPERS = ("iptables-wrapper", "iptables-detect")


def resolve(files: dict[str, FileEntry], path: str, hops: int = 40) -> str | None:
    """Follow symlinks (of the path and its directories) through the image's file list."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    while parts and hops > 0:
        candidate = posixpath.join(current, parts.pop(0))
        entry = files.get(candidate)
        if entry is not None and entry.kind == "symlink" and entry.link is not None:
            hops -= 1
            base = "/" if entry.link.startswith("/") else current
            target = posixpath.normpath(posixpath.join(base, entry.link))
            parts = [p for p in target.split("/") if p] + parts
            current = "/"
            continue
        if entry is None and not parts:
            return None  # directories may lack entries of their own; the leaf may not
        current = candidate
    return current if hops > 0 else None


def iptables(image: ImageProfile) -> Iptables | None:
    """The backend the image's `iptables` command drives, from where its symlink chain ends."""
    index = file_index(image)
    if not index.named(*{p.rpartition("/")[2] for p in IPTABLES}):
        return None
    files = index.by_path()
    manager = _manager(index)
    for path in IPTABLES:
        target = resolve(files, path)
        if target is None:
            continue
        name = posixpath.basename(target)
        chain = f"{path} -> {target}" if target != path else path
        if any(w in name for w in _WRAPPERS):
            return Iptables("auto", f"{chain} (chooses the back end at run time)", manager)
        if "nft" in name:
            return Iptables("nf_tables", chain, manager)
        if "legacy" in name:
            return Iptables("legacy", chain, manager)
        version = _iptables_version(image.packages)
        if version is not None and version < (1, 8):
            return Iptables("legacy", f"{chain}; iptables {version_text(version)} (< 1.8)", manager)
        return Iptables(None, f"{chain} (back end not recognised)", manager)
    return None


def _manager(index: FileIndex) -> str | None:
    for name, label in _MANAGERS.items():
        for f in index.named(name):
            if f.kind in ("file", "symlink", "hardlink"):
                return f"{label} ({f.path})"
    return None


def _iptables_version(packages: Iterable[Package]) -> tuple[int, ...] | None:
    for p in packages:
        if p.name == "iptables":
            m = re.match(r"(?:\d+:)?(\d+)\.(\d+)", p.version)
            if m:
                return int(m.group(1)), int(m.group(2))
    return None


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))
