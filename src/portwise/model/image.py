"""ImageProfile: what an image's user space (level 3B) is made of, as frozen, versioned data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IMAGE_SCHEMA_VERSION = "1.3"  # 1.1: syscall paths, sites, dlsym, unresolved by path; 1.2: cpu
# required/required_level (dispatch decided per use); 1.3: files of kind chardev, blockdev and
# socket with their device numbers (before: all three were "device", and tar layers refused them)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Platform(Frozen):
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


class HistoryEntry(Frozen):
    created: str | None = None
    created_by: str | None = None
    comment: str | None = None
    empty_layer: bool = False


class ImageConfig(Frozen):
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = Field(default_factory=list)
    user: str | None = None
    working_dir: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    created: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)


class OsRelease(Frozen):
    id: str | None = None
    version_id: str | None = None
    id_like: list[str] = Field(default_factory=list)
    pretty_name: str | None = None
    version_codename: str | None = None
    path: str = Field(description="file the values were read from, after symlinks")
    layer: int


PackageManager = Literal["dpkg", "rpm", "apk"]


class Package(Frozen):
    manager: PackageManager
    name: str
    version: str
    architecture: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    installed_at: str | None = Field(None, description="ISO 8601 UTC, where the database has it")
    built_at: str | None = Field(None, description="ISO 8601 UTC, where the database has it")
    layer: int = Field(description="index of the layer that brought this exact version")
    database: str = Field(description="path of the package database inside the image")


class Libc(Frozen):
    family: Literal["glibc", "musl"]
    version: str | None = Field(None, description="None when the image does not say")
    path: str
    layer: int
    evidence: str


class RuntimeComponent(Frozen):
    """A language runtime or library above the C library (Go, Rust std, CPython, OpenJDK, GLib,
    libuv, OpenSSL, Node.js) found in the image, whether or not a package database lists it."""

    component: str = Field(description="name as in knowledge/callers: go, rust-std, cpython...")
    version: str | None = Field(None, description="as found; None when the image does not say")
    location: str = Field(description="the binary, library or installation directory")
    evidence: str


class Layer(Frozen):
    index: int
    digest: str | None = Field(None, description="blob digest as stored (compressed)")
    diff_id: str | None = Field(None, description="digest of the uncompressed tar")
    media_type: str | None = None
    size: int | None = Field(None, description="stored (compressed) bytes")
    unpacked_size: int
    file_count: int
    created_by: str | None = None
    from_cache: bool = False


# "device" is what schema 1.2 called chardev, blockdev and socket alike; kept so those load
FileKind = Literal[
    "file", "dir", "symlink", "hardlink", "fifo", "chardev", "blockdev", "socket", "device"
]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One path of the merged root filesystem and the layer that brought it.

    A plain dataclass rather than a model: an image holds tens of thousands of these, and
    building validated models for them cost more than the whole warm rescan may.
    """

    path: str
    kind: FileKind
    layer: int
    size: int = 0
    mode: int = 0
    link: str | None = None
    mtime: int = 0
    device: tuple[int, int] | None = None  # (major, minor) of a chardev or blockdev


Linkage = Literal["static", "static-pie", "dynamic"]


@dataclass(frozen=True, slots=True)
class DirectSyscalls:
    """System calls a binary issues itself, found by disassembly: `syscall`/`svc` instructions,
    calls to libc's syscall() through the PLT or GOT, and wrappers (thunks) around either."""

    arch: str
    mode: str
    sites: int
    resolved: dict[str, int]  # syscall name -> issuing points
    unresolved: int  # issuing points whose number could not be determined: never dropped
    wrappers: list[str]
    paths: dict[str, list[str]] = field(default_factory=dict)  # name -> direct|syscall()|thunk
    evidence: dict[str, list[str]] = field(default_factory=dict)  # name -> "0x4011a6 syscall()"
    unresolved_paths: dict[str, int] = field(default_factory=dict)  # path -> unresolved points


@dataclass(frozen=True, slots=True)
class CpuNeeds:
    """Instruction-set extensions found in the code, and the x86-64 level they imply."""

    extensions: list[str]
    level: str  # what the code can use
    dispatch: bool  # the code detects the CPU somewhere (cpuid, IFUNC, libgcc/glibc symbols...)
    evidence: list[str]
    # Extensions with a use not shown to run only after a CPU check, and their level: what the
    # binary needs. None in profiles from before schema 1.2 (then `dispatch` meant "needs the
    # baseline only").
    required: list[str] | None = None
    required_level: str | None = None


@dataclass(frozen=True, slots=True)
class ElfBinary:
    """What one ELF file requires from the loader, the kernel and the CPU.

    A dataclass like FileEntry: an image holds thousands, and validation would dominate rescans.
    """

    path: str
    layer: int
    elf_class: int
    endian: str
    machine: str
    type: str
    linkage: Linkage
    interpreter: str | None
    needed: list[str]
    soname: str | None
    runpath: list[str]
    rpath: list[str]
    version_needs: dict[str, list[str]]
    libc_imports: list[str]
    libc: str | None  # glibc, musl, none (pure Go), or None when unknown
    min_kernel: str | None
    x86_isa_needed: list[str]
    features: list[str]
    max_load_align: int
    go: bool
    go_version: str | None
    rust: bool
    cpu: CpuNeeds | None = None
    direct_syscalls: DirectSyscalls | None = None
    dlsym: list[str] = field(default_factory=list)  # functions it may look up by name


class Requirement(Frozen):
    """The most demanding value of one kind across the image, and the binaries that set it."""

    value: str
    count: int = Field(description="how many binaries have exactly this value")
    binaries: list[str] = Field(description="the first of them by path (at most 20)")


class SyscallSource(Frozen):
    """One way the image reaches a system call, and what its code does when the call fails."""

    via: str = Field(
        description="the libc function used, or for calls a binary issues itself its path:"
        ' "direct", "syscall()" or "thunk"'
    )
    path: str = Field(
        "libc",
        description='how the call is reached: "direct" (a syscall/svc instruction),'
        ' "syscall()" (libc\'s generic syscall() with a constant number), "thunk" (a wrapper'
        ' inside the binary), "libc" (an imported libc function), "dlsym" (a libc function'
        " the binary may look up by name: possible, not certain)",
    )
    on_failure: str = Field(
        description="fallback-on-enosys | fallback-on-any | ignored | error-returned | fatal"
        " | unknown"
    )
    fallback: str | None = None
    fallback_errnos: list[str] = Field(default_factory=list)
    certain: bool = Field(True, description="False when the libc version is unknown")
    binaries: int
    examples: list[str]
    sites: list[str] = Field(
        default_factory=list,
        description='issuing points, "BINARY 0xADDR PATH [through WRAPPER]" (the first few)',
    )
    source: str | None = Field(None, description="where the libc behaviour is documented")
    condition: str | None = Field(
        None, description="the call is issued only under these arguments or states"
    )
    caller: str | None = Field(
        None,
        description="the runtime above libc that meets the error (knowledge/callers): component,"
        " version, location and API; None when no caller model applies",
    )
    caller_on_failure: str | None = Field(
        None, description="what that runtime does: fallback-on-enosys | fallback-on-any | ..."
    )
    caller_fallback_errnos: list[str] = Field(default_factory=list)
    caller_other_errors: str | None = Field(
        None, description="what it does on other errnos: ignored | error-returned | fatal"
    )
    caller_source: str | None = None


class SyscallNeed(Frozen):
    name: str
    sources: list[SyscallSource]


class BinarySummary(Frozen):
    elf_files: int = 0
    glibc_shipped: str | None = None
    glibc_needed: Requirement | None = Field(
        None, description="highest GLIBC_x.y symbol version any binary needs"
    )
    needs_newer_glibc: list[Requirement] = Field(
        default_factory=list,
        description="binaries needing a glibc newer than the one the image ships (copied in?)",
    )
    isa_level: Requirement | None = Field(
        None, description="highest x86-64 level required (GNU property note, else disassembly)"
    )
    isa_level_dispatched: Requirement | None = Field(
        None, description="highest level code uses behind run-time CPU dispatch: not required"
    )
    cpu_unknown: int = Field(
        0, description="x86-64 binaries with no ISA-level note that were not disassembled"
    )
    min_kernel: Requirement | None = Field(None, description="highest .note.ABI-tag minimum")
    smallest_load_align: Requirement | None = Field(
        None, description="smallest largest-PT_LOAD alignment: the binary most page-size bound"
    )
    syscalls: list[SyscallNeed] = Field(
        default_factory=list, description="every syscall the image may issue, with provenance"
    )
    unresolved_syscall_sites: int = Field(
        0, description="issuing points (any path) whose syscall number could not be determined"
    )
    unresolved_syscall_paths: dict[str, int] = Field(
        default_factory=dict, description="unresolved issuing points by path (syscall(), ...)"
    )
    unresolved_syscall_binaries: list[str] = Field(
        default_factory=list, description='"PATH (N)": the binaries with most unresolved points'
    )
    go_binaries: list[str] = Field(default_factory=list)
    rust_binaries: list[str] = Field(default_factory=list)
    musl_binaries: list[str] = Field(default_factory=list)
    static_binaries: list[str] = Field(default_factory=list)


class Unknown(Frozen):
    """Something portwise could not read; recorded with its place, never silently dropped."""

    location: str
    layer: int | None = None
    message: str


class Analyzer(Frozen):
    name: str
    version: int


class ImageProfile(Frozen):
    schema_version: str = IMAGE_SCHEMA_VERSION
    reference: str
    source: str = Field(description="kind of source the image was read from")
    manifest_digest: str | None = None
    config_digest: str | None = None
    platform: Platform
    config: ImageConfig
    os_release: OsRelease | None = None
    libc: list[Libc] = Field(default_factory=list)
    packages: list[Package] = Field(default_factory=list)
    runtimes: list[RuntimeComponent] = Field(
        default_factory=list, description="language runtimes and libraries, found in files"
    )
    layers: list[Layer] = Field(default_factory=list)
    files: list[FileEntry] = Field(default_factory=list)
    binaries: list[ElfBinary] = Field(default_factory=list)
    binary_summary: BinarySummary = Field(default_factory=BinarySummary)
    unknowns: list[Unknown] = Field(default_factory=list)
    analyzers: list[Analyzer] = Field(default_factory=list)
    portwise_version: str
