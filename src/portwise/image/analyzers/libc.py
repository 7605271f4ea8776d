"""Which C library the image carries, and its version, from the library files themselves."""

from __future__ import annotations

import re
from typing import Any

GLIBC_PATH = re.compile(
    r"^(?:usr/)?lib(?:32|64|x32)?/(?:[^/]+/)?(?:libc\.so\.6|libc-\d+\.\d+(?:\.\d+)?\.so)$"
)
# Alpine ships the loader itself as lib/ld-musl-ARCH.so.1; Debian's musl package puts the
# library at lib/ARCH-linux-musl/libc.so and makes the loader a symlink to it.
MUSL_PATH = re.compile(
    r"^(?:usr/)?lib(?:64)?/(?:[^/]+/)?(?:ld-musl-[^/]+|libc\.musl-[^/]+)\.so\.1$"
    r"|^(?:usr/)?lib/[^/]+-linux-musl[^/]*/libc\.so$"
)
GLIBC_BANNER = re.compile(rb"GNU C Library [^\n\0]{0,120}? version (\d+\.\d+(?:\.\d+)?)")
GLIBC_FILENAME = re.compile(r"libc-(\d+\.\d+(?:\.\d+)?)\.so$")
# musl keeps its version as a bare NUL-terminated string in .rodata, beside "musl libc ("
MUSL_VERSION = re.compile(rb"\x00(1\.\d\.\d{1,2})\x00")
MAX_BYTES = 64 << 20
# ELF e_machine -> OCI architecture (ELF gABI machine numbers; OCI image-spec platform names)
OCI_ARCH_BY_MACHINE = {
    3: "386",
    8: "mips",
    21: "ppc64",
    22: "s390x",
    40: "arm",
    62: "amd64",
    183: "arm64",
    243: "riscv64",
    258: "loong64",
}


def elf_architecture(content: bytes) -> str | None:
    """The OCI architecture name of an ELF file, from its header alone."""
    if len(content) < 20 or not content.startswith(b"\x7fELF"):
        return None
    little = content[5] == 1
    arch = OCI_ARCH_BY_MACHINE.get(int.from_bytes(content[18:20], "little" if little else "big"))
    if arch == "ppc64" and little:
        return "ppc64le"
    return arch


class LibcAnalyzer:
    name = "libc"
    version = 2

    def wants(self, path: str, size: int, mode: int) -> bool:
        return size <= MAX_BYTES and bool(GLIBC_PATH.match(path) or MUSL_PATH.match(path))

    def analyze(self, path: str, content: bytes) -> Any:
        if not content.startswith(b"\x7fELF"):
            return None  # a linker script or a stub, not the library
        if GLIBC_PATH.match(path):
            banner = GLIBC_BANNER.search(content)
            if banner:
                return {
                    "family": "glibc",
                    "version": banner.group(1).decode(),
                    "evidence": f"version banner in {path}",
                    "architecture": elf_architecture(content),
                }
            named = GLIBC_FILENAME.search(path)
            return {
                "family": "glibc",
                "version": named.group(1) if named else None,
                "evidence": f"file name {path}" if named else f"{path} without version banner",
                "architecture": elf_architecture(content),
            }
        if b"musl" not in content:
            return None
        versions = {m.group(1).decode() for m in MUSL_VERSION.finditer(content)}
        only = versions.pop() if len(versions) == 1 else None
        return {
            "family": "musl",
            "version": only,
            "evidence": f"version string in {path}" if only else f"dynamic linker {path}",
            "architecture": elf_architecture(content),
        }
