"""The libseccomp a host's runtime resolves profile names with: release, package, real name set.

A distribution's build can resolve names its upstream release does not (Debian 12's
2.5.4-1+deb12u1 carries the syscall table of 2.5.5), so the release number alone gives a wrong
answer. On a live host every name of portwise's syscall table is resolved through the library
itself (seccomp_syscall_resolve_name_arch); under --root nothing is loaded, and the package
version read from the package database lets the knowledge data supply the set.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

from portwise.elf.parse import parse_elf
from portwise.elf.reader import ElfError
from portwise.host.files import HostFiles, Unreadable
from portwise.knowledge import seccomp, syscalls
from portwise.model.host import Fact

DPKG_STATUS = "/var/lib/dpkg/status"
PACKAGES = ("libseccomp2", "libseccomp")
# the audit architecture tokens libseccomp takes (linux/audit.h AUDIT_ARCH_*)
AUDIT_ARCH = {"x86-64": 0xC000003E, "aarch64": 0xC00000B7}


def package_version(files: HostFiles) -> Fact[str]:
    """The libseccomp package's version from dpkg's database (RPM databases are not read)."""
    try:
        status = files.read_text(DPKG_STATUS)
    except Unreadable as exc:
        return Fact.missing(f"no dpkg database ({exc}); RPM databases are not read")
    for stanza in status.split("\n\n"):
        name = re.search(r"^Package: (\S+)$", stanza, re.M)
        version = re.search(r"^Version: (\S+)$", stanza, re.M)
        installed = re.search(r"^Status: .* installed$", stanza, re.M)
        if name and version and installed and name.group(1) in PACKAGES:
            return Fact.of(version.group(1), f"{DPKG_STATUS} ({name.group(1)})")
    return Fact.missing(f"{DPKG_STATUS} lists no installed libseccomp package")


class LibraryError(Exception):
    """The library could not be loaded or asked."""


def resolvable(library: Path, arch: str) -> set[str]:
    """Every name of portwise's syscall table for `arch` that the library resolves."""
    token = AUDIT_ARCH.get(arch)
    if token is None:
        raise LibraryError(f"resolving names is not implemented for {arch}")
    try:
        resolve = ctypes.CDLL(str(library)).seccomp_syscall_resolve_name_arch
    except (OSError, AttributeError) as exc:
        raise LibraryError(f"could not load {library}: {exc}") from exc
    resolve.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    resolve.restype = ctypes.c_int
    names = set(syscalls.table(arch).values())
    return {name for name in names if resolve(token, name.encode()) >= 0}


def resolved_beyond(library: Path, release: str, arch: str) -> Fact[list[str]]:
    """Names the library resolves that its upstream release does not: loaded and asked."""
    try:
        known = resolvable(library, arch)
    except LibraryError as exc:
        return Fact.missing(str(exc))
    beyond = sorted(n for n in known if not seccomp.libseccomp_knows(n, arch, release))
    count = len(set(syscalls.table(arch).values()))
    return Fact.of(beyond, f"{library}: seccomp_syscall_resolve_name_arch for {count} names")


def bundled(runtime: Path, version_output: str) -> Fact[str] | None:
    """The libseccomp release a runtime binary carries inside it (upstream runc release
    binaries link it statically and print it in --version); None when the binary loads the
    system's library (it names libseccomp.so in DT_NEEDED) or says nothing."""
    said = re.search(r"^libseccomp: (\d+\.\d+\.\d+)", version_output, re.M)
    if said is None:
        return None
    try:
        elf = parse_elf(runtime.read_bytes())
    except (OSError, ElfError):
        return None
    if any(name.startswith("libseccomp.so") for name in elf.needed):
        return None
    return Fact.of(said.group(1), f"{runtime} --version (libseccomp linked into the binary)")
