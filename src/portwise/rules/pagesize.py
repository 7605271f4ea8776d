"""Page size: binaries and allocators built for smaller pages than the host kernel's.

x86-64 pages are always 4 KiB (the architecture fixes them), but arm64 and ppc64le kernels are
built with 4, 16 or 64 KiB pages (Raspberry Pi 5 and Asahi use 16 KiB, RHEL/Fedora aarch64
options and Ampere clouds 64 KiB). Two things in an image depend on it:

- ELF segments: every PT_LOAD is laid out for the largest page it was linked for
  (-z max-page-size, its p_align). On a kernel with larger pages the kernel cannot map it and
  ld.so refuses a library with "ELF load command address/offset not page-aligned".
- jemalloc compiles its page size in (LG_PAGE) and refuses larger kernel pages with
  "<jemalloc>: Unsupported system page size". Found through its package, its library file or
  a DT_NEEDED entry; a jemalloc linked statically into a program (Rust's tikv-jemallocator,
  Go/C++ bundles) leaves no trace in the profile and is not caught.

Judged against the host's kernel.page_size; unknown page size with an arm64 image that
depends on it is a risk, on x86-64 it is not (4 KiB by definition).
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.image.runtimes import file_index
from portwise.knowledge import incidents
from portwise.knowledge.allocators import default_page, jemalloc
from portwise.knowledge.architectures import machine_of
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact

ID = "pagesize"
FACT = "kernel page size"
LARGEST_PAGE = 65536  # the largest base page any Linux architecture here uses
FIXED_4K = {"x86-64", "i386"}  # base page size fixed by the architecture
GLIBC_ALIGN = "https://sourceware.org/git/?p=glibc.git;a=blob;f=elf/dl-load.c"


@dataclass(frozen=True, slots=True)
class Jemalloc:
    version: str | None  # the package version, when a package brought it
    evidence: tuple[str, ...]  # how it was found: package, library file, DT_NEEDED users


@dataclass(frozen=True, slots=True)
class PageNeeds:
    machine: str
    aligns: tuple[tuple[int, int, str], ...]  # (alignment, binaries, first path), < 64 KiB only
    jemalloc: Jemalloc | None


@dataclass(frozen=True, slots=True)
class PageOffers:
    page_size: Known[int]


def _jemalloc(image: ImageProfile) -> Jemalloc | None:
    known_alloc = jemalloc()
    evidence: list[str] = []
    version = None
    for p in image.packages:
        if p.name in known_alloc.packages:
            version = version or p.version
            evidence.append(f"package {p.name} {p.version}")
    libs = sorted(
        f.path for f in file_index(image).starting(known_alloc.library_prefix) if f.kind == "file"
    )
    if libs:
        evidence.append(f"library {libs[0]}")
    prefix = known_alloc.library_prefix
    # the names every binary needs, gathered in one pass: most images link no jemalloc at all
    linked = {n for b in image.binaries for n in b.needed if n.startswith(prefix)}
    users = (
        sorted(b.path for b in image.binaries if any(n in linked for n in b.needed))
        if linked
        else []
    )
    if users:
        evidence.append(f"{len(users)} binaries link it (DT_NEEDED), e.g. {users[0]}")
    return Jemalloc(version, tuple(evidence)) if evidence else None


def needs(image: ImageProfile) -> PageNeeds:
    seen: dict[int, list[str]] = {}
    for b in image.binaries:
        if b.type in ("EXEC", "DYN") and 0 < b.max_load_align < LARGEST_PAGE:
            seen.setdefault(b.max_load_align, []).append(b.path)
    return PageNeeds(
        machine_of(image.platform.architecture),
        tuple((align, len(p), min(p)) for align, p in sorted(seen.items())),
        _jemalloc(image),
    )


def offers(host: HostProfile) -> PageOffers:
    return PageOffers(known(host.kernel.page_size))


def _kib(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} bytes"


def judge(need: PageNeeds, offer: PageOffers) -> tuple[Finding, ...]:
    page = offer.page_size.value
    if page is None:
        if need.machine in FIXED_4K or not (need.aligns or need.jemalloc):
            return ()
        side = [f"{c} binaries aligned for {_kib(a)} pages, e.g. {e}" for a, c, e in need.aligns]
        side += list(need.jemalloc.evidence if need.jemalloc else ())
        ids = incidents.matching(ID, case="jemalloc") if need.jemalloc else []
        return (
            unknown_fact(
                ID,
                "page-size-unknown",
                fact=FACT,
                fact_value=offer.page_size,
                why_needed=f"{need.machine} kernels use 4, 16 or 64 KiB pages, and this image "
                "has code that only works up to a fixed page size.",
                image_evidence=side,
                incidents=ids,
                references=incidents.references(ids),
            ),
        )
    findings = [_misaligned(a, c, e, page, offer) for a, c, e in need.aligns if a < page]
    if need.jemalloc and page > 4096:
        finding = _jemalloc_finding(need.machine, need.jemalloc, page, offer)
        if finding is not None:
            findings.append(finding)
    return tuple(findings)


def _misaligned(align: int, count: int, example: str, page: int, offer: PageOffers) -> Finding:
    return Finding(
        id=f"{ID}.load-align",
        mechanism=ID,
        severity="fail",
        title=f"{count} binaries are laid out for {_kib(align)} pages; the host uses {_kib(page)}",
        explanation=(
            f"Their PT_LOAD segments are aligned to {align} bytes, less than the kernel's page, "
            "so they cannot be mapped: the kernel refuses to exec such a program and ld.so "
            "refuses such a library ('ELF load command address/offset not page-aligned')."
        ),
        evidence=Evidence(
            image=[f"{count} binaries with largest PT_LOAD alignment {align}, e.g. {example}"],
            host=[host_evidence(FACT, offer.page_size)],
        ),
        mitigations_host=[f"run it on a kernel with {_kib(align)} pages"],
        mitigations_image=[
            f"relink with -Wl,-z,max-page-size={max(page, 65536)} (64 KiB runs on every page size)"
        ],
        references=[GLIBC_ALIGN],
    )


def _jemalloc_finding(
    machine: str, alloc: Jemalloc, page: int, offer: PageOffers
) -> Finding | None:
    compiled, rule = default_page(alloc.version, machine)
    if compiled is not None and compiled >= page:
        return None
    knowledge = jemalloc()
    ids = incidents.matching(ID, case="jemalloc")
    how = (
        rule.what
        if rule is not None
        else "the release is unknown, and so is the page size it was built for"
    )
    return Finding(
        id=f"{ID}.jemalloc",
        mechanism=ID,
        severity="risk",
        title=f"jemalloc may be built for smaller pages than the host's {_kib(page)}",
        explanation=(
            f"jemalloc fixes its page size when compiled and stops with "
            f"'{knowledge.symptom}' on a kernel with larger pages. For this build: {how}. "
            "The profile cannot see the value compiled in, so this is a risk, not a failure."
        ),
        evidence=Evidence(image=list(alloc.evidence), host=[host_evidence(FACT, offer.page_size)]),
        mitigations_host=["run it on a kernel with 4 KiB pages"],
        mitigations_image=[knowledge.mitigation, "or start it with another allocator"],
        incidents=ids,
        references=[
            *(rule.source for rule in [rule] if rule is not None),
            knowledge.mitigation_source,
            *incidents.references(ids),
        ],
    )


MECHANISM: Mechanism[PageNeeds, PageOffers] = Mechanism(
    id=ID,
    title="kernel page size",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=(GLIBC_ALIGN, jemalloc().check["source"]),
)
