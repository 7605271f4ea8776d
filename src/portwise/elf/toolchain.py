"""What built a binary and which C library it carries: Go (and its version), Rust, glibc, musl.

Every marker is looked for only where a toolchain puts it, never in code: it runs on every ELF
file of every image, and a whole-file search cost as much as parsing with pyelftools (a 121 MB
Go binary: 0.5 s). bench/elf_speed.py checks the answers against whole-file searches on every
ELF file under /usr (identical) and prints both speeds. A file without section headers is
searched whole, as before.

Go's build info format: a 32-byte header "\\xff Go buildinf:" + pointer size + flags, then
(flags & 2, Go >= 1.18) the version as a varint-length string, or (older) two pointers to Go
string headers (src/debug/buildinfo/buildinfo.go in the Go distribution).
"""

from __future__ import annotations

import re
import struct

from portwise.elf.parse import ElfFile

GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
SHT_NOBITS, PF_X, PF_W = 8, 0x1, 0x2
# read-only data (string literals: Rust's panic locations, glibc's and musl's messages), the
# toolchain's .comment, the static symbol names and the strings of debug info
STRING_SECTIONS = re.compile(
    r"\.rodata(?:\..*)?|\.comment|\.strtab|\.debug_str|\.debug_line_str|\.debug_line"
)
# rustup's std paths name the commit; Debian remaps them to /usr/src/rustc-<version>/
RUST_PANIC_PATH = re.compile(rb"/rustc/[0-9a-f]{40}/|/usr/src/rustc-\d+\.\d+(?:\.\d+)?/library/")
GLIBC_MARKERS = (b"GLIBC_TUNABLES", b"GNU C Library")
# musl's strerror text (glibc says "Success"), its internal start-up and stdio symbols (kept in
# .strtab unless stripped), and its source path in debug info; a stripped minimal static musl
# binary may carry none of them, and is then reported as unknown rather than guessed.
MUSL_MARKERS = (
    b"No error information\0",
    b"\0__init_libc\0",
    b"\0__stdout_write\0",
    b"/musl-1.",
    b"musl libc",
)


def go_version(elf: ElfFile, data: bytes) -> tuple[bool, str | None]:
    """(is Go, version or None). Presence also from .gopclntab or the Go build-ID note."""
    section = elf.section(".go.buildinfo")
    at = section.offset if section is not None else _find_buildinfo(elf, data)
    version = _buildinfo_version(elf, data, at) if at >= 0 else None
    present = (
        version is not None
        or section is not None
        or elf.section(".gopclntab") is not None
        or elf.notes.go_build_id
    )
    return present, version


def _find_buildinfo(elf: ElfFile, data: bytes) -> int:
    """Where Go's debug/buildinfo looks when there is no .go.buildinfo section (section
    headers stripped): the writable, non-executable PT_LOAD segments."""
    for seg in elf.segments:
        if seg.type == 1 and seg.flags & (PF_X | PF_W) == PF_W and seg.filesz:
            at = data.find(GO_BUILDINFO_MAGIC, seg.offset, min(seg.offset + seg.filesz, len(data)))
            if at >= 0:
                return at
    return -1


def _spans(elf: ElfFile, data: bytes) -> list[tuple[int, int]]:
    """(start, end) file ranges that can hold the string markers: see STRING_SECTIONS."""
    if not elf.sections:
        return [(0, len(data))]
    return [
        (s.offset, min(s.offset + s.size, len(data)))
        for s in elf.sections
        if s.type != SHT_NOBITS and s.size and STRING_SECTIONS.fullmatch(s.name)
    ]


def _contains(data: bytes, spans: list[tuple[int, int]], markers: tuple[bytes, ...]) -> bool:
    return any(data.find(m, start, end) >= 0 for start, end in spans for m in markers)


def _buildinfo_version(elf: ElfFile, data: bytes, at: int) -> str | None:
    if data[at : at + 14] != GO_BUILDINFO_MAGIC or at + 32 > len(data):
        return None
    pointer_size, flags = data[at + 14], data[at + 15]
    if flags & 2:  # Go 1.18+: inline varint-prefixed strings
        length, pos = _uvarint(data, at + 32)
        raw = data[pos : pos + length] if 0 < length < 256 else b""
        return _go_version_text(raw)
    if pointer_size not in (4, 8):
        return None
    order = ">" if flags & 1 else "<"
    fmt = order + ("Q" if pointer_size == 8 else "I")
    (string_header,) = struct.unpack_from(fmt, data, at + 16)
    header_at = _file_offset(elf, string_header)
    if header_at is None or header_at + 2 * pointer_size > len(data):
        return None
    pointer, length = struct.unpack_from(
        order + ("QQ" if pointer_size == 8 else "II"), data, header_at
    )
    text_at = _file_offset(elf, pointer)
    if text_at is None or not 0 < length < 256:
        return None
    return _go_version_text(data[text_at : text_at + length])


def _go_version_text(raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace")
    return text if text.startswith("go") and len(text) < 64 else None


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    return 0, at


def _file_offset(elf: ElfFile, vaddr: int) -> int | None:
    for seg in elf.segments:
        if seg.type == 1 and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
            return seg.offset + vaddr - seg.vaddr
    return None


def is_rust(elf: ElfFile, data: bytes) -> bool:
    """Rust code embeds the toolchain's source path in panic locations, stripped or not."""
    comment = elf.section(".comment")
    if comment is not None and b"rustc" in data[comment.offset : comment.offset + comment.size]:
        return True
    return any(RUST_PANIC_PATH.search(data, start, end) for start, end in _spans(elf, data))


def libc_of(elf: ElfFile, data: bytes, is_go: bool) -> str | None:
    """ "glibc", "musl", "none" (a pure-Go static binary), or None when it cannot tell."""
    interp = elf.interpreter or ""
    if "ld-musl" in interp:
        return "musl"
    if "ld-linux" in interp:
        return "glibc"
    needed = set(elf.needed)
    if "libc.so.6" in needed:
        return "glibc"
    if any(n.startswith("libc.musl-") or n == "libc.so" for n in needed):
        return "musl"
    if elf.linkage == "dynamic":
        return None  # a library that needs no libc itself, or an unusual loader
    spans = _spans(elf, data)
    if _contains(data, spans, GLIBC_MARKERS):
        return "glibc"
    if _contains(data, spans, MUSL_MARKERS):
        return "musl"
    return "none" if is_go else None
