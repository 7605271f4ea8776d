"""Version strings of language runtimes and libraries, read from the few files that carry them.

A runtime copied into an image (a JDK unpacked in /opt, a Node.js tarball, a Rust binary, a
vendored libuv or OpenSSL) appears in no package database; its version is still written in its
files. This analyzer records it where it is cheap to read:

- a JDK's `release` file: JAVA_VERSION;
- libcrypto/libssl: the "OpenSSL x.y.z" banner;
- libuv.so.1*: the version string uv_version_string() returns (Debian names the file
  libuv.so.1.0.0, so the file name does not tell);
- a `node` executable: its own version (the release URLs built in) and, when libuv is linked
  in, libuv's version, which sits beside libuv's source paths in .rodata;
- any ELF executable or shared object: "rustc version x.y.z" in the .comment section, which
  rustc writes and `strip` keeps; else Debian's remapped std source path
  "/usr/src/rustc-x.y.z/library/" in .rodata (Debian's rustc writes no .comment version).

Versions that file names carry (libglib-2.0.so.0.7400.6, libpython3.11.so.1.0) and Go's build
info (read by the ELF analyzer) are not repeated here: langruntimes reads them off the profile.
"""

from __future__ import annotations

import re
import struct
from typing import Any

MAX_RELEASE_BYTES = 16 << 10
MIN_ELF_BYTES = 1024

_JAVA_VERSION = re.compile(rb'^JAVA_VERSION="?([0-9][^"\s]*)"?\s*$', re.MULTILINE)
_IMPLEMENTOR = re.compile(rb'^IMPLEMENTOR="?([^"\n]*)"?\s*$', re.MULTILINE)
_OPENSSL = re.compile(
    rb"OpenSSL (\d+\.\d+\.\d+[a-z]?)(?:-[A-Za-z0-9.]+)? +\d{1,2} [A-Z][a-z]{2} \d{4}"
)
_LIBUV_SO = re.compile(r"(?:^|/)libuv\.so\.1(?:\.\d+)*$")
_NODE_NAMES = frozenset({"node", "nodejs"})
_NODE_VERSION = re.compile(
    rb"https://nodejs\.org/download/release/v(\d+\.\d+\.\d+)/node-v\d|\x00node\.js/v(\d+\.\d+\.\d+)\x00"
)
# libuv's version string (UV_VERSION_STRING) sits just before the source paths of its
# assertion messages: "1.44.2\0./src/unix/async.c" (Debian), "1.46.0\0../deps/uv/src/unix/..."
_LIBUV_VERSION = re.compile(
    rb"(?<![\d.])(1\.\d{1,2}\.\d{1,2})(?:-dev)?\x00[^\x00]{0,40}src/unix/[a-z_-]+\.c\x00"
)
_DEBIAN_RUSTC = re.compile(rb"/usr/src/rustc-(\d+\.\d+(?:\.\d+)?)/library/")
_RUSTC = re.compile(rb"rustc version (\d+\.\d+\.\d+(?:-[a-z]+(?:\.\d+)?)?)")
_CRYPTO_SO = re.compile(r"(?:^|/)lib(?:crypto|ssl)\.so(?:\.\d+)*$")


def _base(path: str) -> str:
    return path.rpartition("/")[2]


def elf_section(content: bytes, wanted: bytes) -> bytes | None:
    """The bytes of the section named `wanted`, from the section headers alone; None when the
    file is not ELF, has no such section, or its headers point outside the file."""
    if len(content) < 64 or not content.startswith(b"\x7fELF"):
        return None
    wide = content[4] == 2
    end = "<" if content[5] == 1 else ">"
    try:
        if wide:
            (shoff,) = struct.unpack_from(end + "Q", content, 0x28)
            entsize, count, names = struct.unpack_from(end + "HHH", content, 0x3A)
            header = end + "IIQQQQ"
        else:
            (shoff,) = struct.unpack_from(end + "I", content, 0x20)
            entsize, count, names = struct.unpack_from(end + "HHH", content, 0x2E)
            header = end + "IIIIII"
        if shoff == 0 or count == 0 or names >= count or entsize < struct.calcsize(header):
            return None

        def section(i: int) -> tuple[int, int, int]:
            name, _, _, _, offset, size = struct.unpack_from(header, content, shoff + i * entsize)
            return name, offset, size

        _, str_off, str_size = section(names)
        strtab = content[str_off : str_off + str_size]
        # most packaged binaries have no such section (Debian strips .comment): look first;
        # a name may also be the tail of a longer one (".rela.text" holds ".text")
        starts = {m.start() for m in re.finditer(re.escape(wanted + b"\x00"), strtab)}
        if not starts:
            return None
        for i in range(count):
            name, offset, size = section(i)
            if name in starts:
                if offset + size > len(content):
                    return None
                return content[offset : offset + size]
    except struct.error:
        return None
    return None


def parse_release(content: bytes) -> dict[str, str] | None:
    """JAVA_VERSION (and IMPLEMENTOR) of a JDK/JRE `release` file; None for other files."""
    found = _JAVA_VERSION.search(content)
    if found is None:
        return None
    version = found.group(1).decode("ascii", "replace")
    vendor = _IMPLEMENTOR.search(content)
    evidence = f'JAVA_VERSION="{version}"'
    if vendor:
        evidence += f' (IMPLEMENTOR="{vendor.group(1).decode("utf-8", "replace")}")'
    return {"component": "openjdk", "version": version, "evidence": evidence}


def _unique(pattern: re.Pattern[bytes], content: bytes) -> str | None:
    values = {next(g for g in m.groups() if g).decode() for m in pattern.finditer(content)}
    return values.pop() if len(values) == 1 else None


class RuntimeVersionsAnalyzer:
    name = "runtime-versions"
    version = 2  # 2: Debian rustc source paths give the Rust version

    def wants(self, path: str, size: int, mode: int) -> bool:
        base = _base(path)
        if base == "release":
            return size <= MAX_RELEASE_BYTES
        if size < MIN_ELF_BYTES:
            return False
        return bool(mode & 0o111) or ".so" in base

    def analyze(self, path: str, content: bytes) -> Any:
        base = _base(path)
        if base == "release":
            found = parse_release(content)
            return [found] if found else None
        if not content.startswith(b"\x7fELF"):
            return None
        records: list[dict[str, str | None]] = []
        if _CRYPTO_SO.search(path):
            version = _unique(_OPENSSL, content)
            records.append(
                {
                    "component": "openssl",
                    "version": version,
                    "evidence": "OpenSSL version banner" if version else "no single version banner",
                }
            )
        if _LIBUV_SO.search(path):
            version = _unique(_LIBUV_VERSION, content)
            records.append(
                {
                    "component": "libuv",
                    "version": version,
                    "evidence": "uv_version_string literal" if version else "no single version",
                }
            )
        if base in _NODE_NAMES:
            node = _unique(_NODE_VERSION, content)
            if node is not None:
                records.append(
                    {"component": "nodejs", "version": node, "evidence": "release URL built in"}
                )
                uv = _unique(_LIBUV_VERSION, content)
                if uv is not None:
                    records.append(
                        {
                            "component": "libuv",
                            "version": uv,
                            "evidence": "bundled libuv: version string beside deps/uv sources",
                        }
                    )
        comment = elf_section(content, b".comment")
        rustc = _RUSTC.search(comment) if comment is not None else None
        if rustc is not None:
            records.append(
                {
                    "component": "rust-std",
                    "version": rustc.group(1).decode(),
                    "evidence": f"'{rustc.group(0).decode()}' in .comment",
                }
            )
        else:
            rodata = elf_section(content, b".rodata")
            remapped = _DEBIAN_RUSTC.search(rodata) if rodata is not None else None
            if remapped is not None:
                records.append(
                    {
                        "component": "rust-std",
                        "version": remapped.group(1).decode(),
                        "evidence": f"Debian's rustc source path {remapped.group(0).decode()}"
                        " in .rodata",
                    }
                )
        return records or None
