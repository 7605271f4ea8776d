"""Language runtimes and libraries above the C library, recognised from the image's files.

What a program does when a system call fails is decided by the runtime that issues the call
(knowledge/callers): the Go runtime and standard library, Rust's std, CPython, OpenJDK, GLib,
libuv, OpenSSL. Which of them, at which version, is an image fact; images often carry them
where no package database looks: a JDK unpacked in /opt, Node.js from a tarball, a relocated
CPython, a Go or Rust binary in a wheel. These pure functions name each runtime with its
version (None when the image does not say), its location and the evidence:

- Go: the build info the ELF analyzer read (ElfBinary.go_version), one per binary;
- Rust std: "rustc version" in a binary's .comment (runtime-versions analyzer), else presence;
- CPython: libpython3.X.so* or a python3.X executable, anywhere; the package version refines it;
- OpenJDK: a `release` file's JAVA_VERSION (its directory is the JDK home), else what
  runtimes.jvms() reads from packages and the environment;
- GLib/GIO: the library file name (libglib-2.0.so.0.7400.6 is GLib 2.74.6);
- libuv: the version string inside libuv.so.1*, or bundled inside a `node` executable;
- OpenSSL: the "OpenSSL x.y.z" banner of libcrypto (libssl takes its sibling's version);
- Node.js: its release URL built into the `node` executable;
- system libraries with a caller model (util-linux's libmount, libblkid, libsmartcols and
  libfdisk, libbsd, libsystemd): the library file name, dated by the package that ships it;
- util-linux's programs (setpriv, choom, lsblk...): their name in a bin directory, counted only
  when a util-linux package dates them (busybox links carry the same names).

The file-name and package tables are in image/runtimetables.

`detect` builds the list (the scan stores it as ImageProfile.runtimes); `runtimes_for` answers
which runtimes decide the fate of one binary's calls; `reactions_for` joins that with the caller
model for one system call.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from portwise.image.runtimes import jvms
from portwise.image.runtimetables import (
    NAMES,
    OWN_CODE_ONLY,
    PACKAGES,
    SHARED_PROGRAMS,
    SYSTEM_LIBRARIES,
)
from portwise.knowledge.callers import CallerReaction, components, reactions
from portwise.lastcall import last_call
from portwise.model.image import ElfBinary, FileEntry, ImageProfile, Package, RuntimeComponent

_PY_LIB_DIR = re.compile(r"/lib(?:64)?/python(3\.\d+)/")
# extension modules name the interpreter they were built for: _json.cpython-311-x86_64-linux-gnu.so
_PY_EXT_TAG = re.compile(r"\.cpython-3(\d+)[a-z]*-[^/]*\.so$")
_PY_ABI3 = re.compile(r"\.abi3\.so$")


@dataclass(frozen=True, slots=True)
class CallerOfCall:
    """One runtime that may issue a call for a binary, with what it does if the call fails.

    `reactions` is empty when the caller model has no entry for this runtime, version and call:
    the reaction is unknown (a rule should say RISK, naming the runtime)."""

    runtime: RuntimeComponent
    reactions: tuple[CallerReaction, ...]


def upstream_version(package_version: str) -> str:
    """'1:3.0.19-1~deb12u1' -> '3.0.19'; '2.74.6-2+deb12u5' -> '2.74.6'."""
    text = package_version.partition(":")[2] or package_version
    return text.split("-", 1)[0].split("+", 1)[0].split("~", 1)[0]


def glib_version(interface: str, revision: str) -> str:
    """GLib's library file name carries 100 * minor + (micro - interface age) and the interface
    age: libglib-2.0.so.0.7400.6 is 2.74.6, a development 2.73.2 is libglib-2.0.so.0.7302.0."""
    number = int(interface)
    return f"2.{number // 100}.{number % 100 + int(revision)}"


def from_analyzer(path: str, records: Iterable[Mapping[str, Any]]) -> list[RuntimeComponent]:
    """The runtime-versions analyzer's records for one file (path without the leading slash)."""
    out = []
    for record in records:
        location = "/" + path
        if record["component"] == "openjdk":
            location = posixpath.dirname(location)  # the release file names its JDK home
        out.append(
            RuntimeComponent(
                component=str(record["component"]),
                version=record.get("version"),
                location=location,
                evidence=f"{record['evidence']} in /{path}",
            )
        )
    return out


def detect(image: ImageProfile) -> tuple[RuntimeComponent, ...]:
    """Every runtime the image carries: those already in image.runtimes (the scan's analyzer
    records) completed from binaries, file names and packages. Applying it to its own result
    changes nothing."""
    found: dict[tuple[str, str], RuntimeComponent] = {}
    for runtime in image.runtimes:
        found.setdefault((runtime.component, runtime.location), runtime)

    def add(runtime: RuntimeComponent) -> None:
        found.setdefault((runtime.component, runtime.location), runtime)

    for binary in image.binaries:
        for runtime in _from_binary(binary):
            add(runtime)
    elf_paths = frozenset(b.path for b in image.binaries)
    for runtime in _from_file_names(image.files, elf_paths):
        add(runtime)
    if not any(r.component == "openjdk" for r in found.values()):
        for runtime in _from_jvms(image):
            add(runtime)
    refined = [_refine(r, found, image.packages) for r in found.values()]
    kept = [r for r in refined if _owned(r, image.packages)]
    return tuple(sorted(kept, key=lambda r: (r.component, r.location)))


def _owned(runtime: RuntimeComponent, packages: Sequence[Package]) -> bool:
    """False for a util-linux program name whose owner is not known: no util-linux package
    dates it (busybox's links, another implementation), or a name other projects ship too whose
    package was not built from util-linux."""
    if runtime.component != "util-linux" or not runtime.evidence.startswith("util-linux program"):
        return True
    if runtime.version is None:
        return False
    wanted = SHARED_PROGRAMS.get(posixpath.basename(runtime.location))
    return wanted is None or any(
        p.name == wanted and p.source_name == "util-linux" for p in packages
    )


def _from_binary(binary: ElfBinary) -> list[RuntimeComponent]:
    out = []
    if binary.go:
        evidence = (
            f"Go build info ({binary.go_version})"
            if binary.go_version
            else "Go binary (pclntab), version not recorded"
        )
        out.append(
            RuntimeComponent(
                component="go",
                version=_go(binary.go_version),
                location=binary.path,
                evidence=evidence,
            )
        )
    if binary.rust:
        out.append(
            RuntimeComponent(
                component="rust-std",
                version=None,
                location=binary.path,
                evidence="Rust binary; no rustc version recorded",
            )
        )
    return out


def _go(version: str | None) -> str | None:
    """'go1.22.5' -> '1.22.5'; 'devel +abc' and the like stay as found."""
    if version and version.startswith("go") and version[2:3].isdigit():
        return version[2:].split(" ", 1)[0]
    return version


def _from_file_names(
    files: Sequence[FileEntry], elf_paths: frozenset[str]
) -> list[RuntimeComponent]:
    """Libraries and interpreters named by their file names. Only ELF files count (a lintian
    override or a binfmt entry may be called python3.11 too); without ELF facts (a profile
    made with no ELF analysis), an executable file in a bin directory stands in."""
    wanted = [f for f in files if f.kind in ("file", "hardlink")]
    modes = {f.path: f.mode for f in wanted}
    text = "\n".join([f.path for f in wanted])
    out = []
    for m in NAMES.finditer(text):
        path = text[text.rfind("\n", 0, m.start()) + 1 : m.end()]
        base = posixpath.basename(path)
        if elf_paths and path not in elf_paths:
            continue
        if m["pybin"] is not None and not (
            posixpath.basename(posixpath.dirname(path)) in ("bin", "sbin")
            and (path in elf_paths or modes[path] & 0o111)
        ):
            continue
        if m["glib"] is not None:
            version = glib_version(m["glib"], m["glib_rev"])
            out.append(
                RuntimeComponent(
                    component="glib",
                    version=version,
                    location=path,
                    evidence=f"library file name {base}",
                )
            )
        elif m["pylib"] is not None:
            out.append(
                RuntimeComponent(
                    component="cpython",
                    version=m["pylib"],
                    location=path,
                    evidence=f"library file name {base}",
                )
            )
        elif m["pybin"] is not None:
            out.append(
                RuntimeComponent(
                    component="cpython",
                    version=m["pybin"],
                    location=path,
                    evidence=f"interpreter file name {base}",
                )
            )
        elif m["syslib"] is not None:
            out.append(
                RuntimeComponent(
                    component=SYSTEM_LIBRARIES[m["syslib"]],
                    version=None,
                    location=path,
                    evidence=f"library {base}",
                )
            )
        elif m["program"] is not None:
            if posixpath.basename(posixpath.dirname(path)) not in ("bin", "sbin") or not (
                path in elf_paths or modes[path] & 0o111
            ):
                continue
            out.append(
                RuntimeComponent(
                    component="util-linux",
                    version=None,
                    location=path,
                    evidence=f"util-linux program {base}",
                )
            )
        elif base.startswith("libuv"):
            out.append(
                RuntimeComponent(
                    component="libuv",
                    version=None,
                    location=path,
                    evidence=f"library {base} (no version string read)",
                )
            )
        else:
            out.append(
                RuntimeComponent(
                    component="openssl",
                    version=None,
                    location=path,
                    evidence=f"library {base} (no version banner read)",
                )
            )
    return out


def _from_jvms(image: ImageProfile) -> list[RuntimeComponent]:
    out = []
    for jvm in jvms(image):
        if jvm.vendor != "openjdk":
            continue
        version = None
        if jvm.feature is not None:
            version = f"{jvm.feature}.0.{jvm.update}" if jvm.update else str(jvm.feature)
        out.append(
            RuntimeComponent(
                component="openjdk",
                version=version,
                location=_jvm_home(image),
                evidence=jvm.evidence,
            )
        )
    return out


def _jvm_home(image: ImageProfile) -> str:
    for f in image.files:
        if f.path.endswith("/bin/java") and f.path.startswith(("/usr/lib/jvm/", "/opt/")):
            return posixpath.dirname(posixpath.dirname(f.path))
    return "/usr/lib/jvm"


def _refine(
    runtime: RuntimeComponent,
    found: Mapping[tuple[str, str], RuntimeComponent],
    packages: Sequence[Package],
) -> RuntimeComponent:
    """A version for a runtime whose files did not date it: libssl from its libcrypto sibling,
    a CPython X.Y from its package, anything else from the package that ships it."""
    if runtime.version is not None and runtime.component != "cpython":
        return runtime
    if runtime.component == "openssl":
        directory = posixpath.dirname(runtime.location)
        sibling = next(
            (
                r
                for r in found.values()
                if r.component == "openssl"
                and r.version is not None
                and posixpath.dirname(r.location) == directory
            ),
            None,
        )
        if sibling is not None:
            return runtime.model_copy(
                update={
                    "version": sibling.version,
                    "evidence": f"{runtime.evidence}; version of {sibling.location}",
                }
            )
    if runtime.component == "cpython":
        return _refine_python(runtime, packages)
    pattern = PACKAGES.get(runtime.component)
    if pattern is None:
        return runtime
    for package in packages:
        if pattern.match(package.name):
            return runtime.model_copy(
                update={
                    "version": upstream_version(package.version),
                    "evidence": f"{runtime.evidence}; {package.manager} package "
                    f"{package.name} {package.version}",
                }
            )
    return runtime


def _refine_python(runtime: RuntimeComponent, packages: Sequence[Package]) -> RuntimeComponent:
    minor = runtime.version
    if minor is None or minor.count(".") != 1:
        return runtime  # already a full version, or nothing to match a package with
    names = {f"libpython{minor}-minimal", f"python{minor}-minimal", f"python{minor}"}
    for package in packages:
        full = upstream_version(package.version)
        if package.name in names and full.startswith(minor + "."):
            return runtime.model_copy(
                update={
                    "version": full,
                    "evidence": f"{runtime.evidence}; {package.manager} package "
                    f"{package.name} {package.version}",
                }
            )
    return runtime


def runtimes_for(image: ImageProfile, path: str) -> tuple[RuntimeComponent, ...]:
    """The runtimes whose code runs in the process of the binary at `path`: the binary itself
    (a Go or Rust program, node, libpython, python3.X), the libraries it links by DT_NEEDED
    (libglib, libuv, libssl/libcrypto, libpython), the JDK whose home holds it, and the CPython
    an extension module is built for (its lib/python3.X directory or its cpython-3XX tag; every
    CPython for an abi3 module). Several copies of one library all count. System libraries
    whose code is only their own (libmount, libbsd, libsystemd: OWN_CODE_ONLY) count for their
    own file only: a program linking libsystemd issues its own calls, not libsystemd's."""
    index = _index(image)
    binary = index.binaries.get(path)
    needed = tuple(binary.needed) if binary is not None else ()
    python = _python_of(path)
    out: list[RuntimeComponent] = []
    for runtime in index.runtimes:
        base = posixpath.basename(runtime.location)
        if runtime.location == path:
            out.append(runtime)
        elif runtime.component in OWN_CODE_ONLY:
            continue
        elif (
            any(base == name or base.startswith(name + ".") for name in needed)
            or (runtime.component == "openjdk" and path.startswith(runtime.location + "/"))
            or (
                python is not None
                and runtime.component == "cpython"
                and python in ("any", _minor(runtime.version))
            )
        ):
            out.append(runtime)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class _Index:
    runtimes: tuple[RuntimeComponent, ...]
    binaries: dict[str, ElfBinary]


@last_call
def _index(image: ImageProfile) -> _Index:
    """Built once per image: a rule asks about many binaries of the same image in turn."""
    runtimes = tuple(image.runtimes) or detect(image)
    return _Index(runtimes, {b.path: b for b in image.binaries})


def _python_of(path: str) -> str | None:
    """The CPython 3.X that loads the module at `path` ('any' for the stable ABI), from its
    directory (lib/python3.X/) or its extension-module tag; None for other files."""
    tag = _PY_EXT_TAG.search(path)
    if tag is not None:
        return f"3.{tag[1]}"
    directory = _PY_LIB_DIR.search(path)
    if directory is not None:
        return directory[1]
    return "any" if _PY_ABI3.search(path) else None


def _minor(version: str | None) -> str | None:
    """'3.11.2' -> '3.11'."""
    if version is None:
        return None
    return ".".join(version.split(".")[:2])


def reactions_for(image: ImageProfile, path: str, syscall: str) -> tuple[CallerOfCall, ...]:
    """For the binary at `path`, each runtime in its process that the caller model describes,
    and what it does when `syscall` fails (knowledge/callers), by the runtime's version.
    Runtimes the model has no component for (Node.js itself: its calls are libuv's, listed
    beside it) are left out."""
    known = set(components())
    return tuple(
        CallerOfCall(runtime, reactions(runtime.component, runtime.version, syscall))
        for runtime in runtimes_for(image, path)
        if runtime.component in known
    )


__all__ = [
    "CallerOfCall",
    "detect",
    "from_analyzer",
    "glib_version",
    "reactions_for",
    "runtimes_for",
    "upstream_version",
]
