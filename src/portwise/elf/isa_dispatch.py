"""Which code runs only after the program chose it for this CPU: per function, from structure.

An extension use is dispatched when the function that holds it is
- an IFUNC resolver, or a function a resolver returns (an address it materialises: `lea`, or a
  `mov` immediate in non-PIE code), resolvers being STT_GNU_IFUNC symbols and the addends of
  IRELATIVE relocations;
- a function multi-versioning clone (GCC/clang `target_clones`: foo.avx2, foo.arch_x86_64_v3),
  or a vector-ABI variant (libmvec's _ZGVdN4v_sin: only AVX2 code calls it);
- a guard: it reads a CPU-feature variable (libgcc's __cpu_model/__cpu_features2, glibc's
  cpu_features, OPENSSL_ia32cap_P, Go's internal/cpu.X86, or any global that a function
  executing cpuid -- or a direct caller of one -- stores to), calls glibc's feature functions, or
  calls getauxval(AT_HWCAP);
- reached only from dispatched functions: every direct call, jump or `lea` of its address
  comes from one, it is not exported, and no data holds its address.
A bare cpuid is a guard only for the xgetbv/xsave family in the same function (the detection
code itself): a stray cpuid beside AVX2 code (a cache-size query, a static libc's start-up)
proves nothing about that code. Everything else is not shown to be dispatched, so it REQUIRES
its extensions: the conservative side, since the cost of a wrong "dispatched" is a PASS for a
program that dies with SIGILL.

Everything here reads bytes, not decoded instructions, except for the few functions that hold a
cpuid (confirmed by decoding them): references are rel32/rel8 branch and RIP-relative
displacement fields whose target is a function start, as in isa_decode's anchors. A byte run
that only looks like a reference adds a caller, which can only make less code dispatched.
"""

from __future__ import annotations

import bisect
import re
import struct
from array import array
from collections.abc import Iterator

import capstone  # type: ignore[import-untyped]

from portwise.elf import isa_elf
from portwise.elf.isa_elf import Region, Symbols
from portwise.elf.parse import ElfFile

# Libraries all of whose code is the caller's choice: glibc's vector math library is called only
# by code vectorised for the variant's ISA (x86-64 Vector Function ABI), through _ZGV names whose
# internal helpers are stripped.
CALLER_CHOSEN = {"libmvec.so.1": "vector-ABI library: only code built for a variant's ISA calls it"}
MAX_FUNCTION = 1 << 16  # bytes of a function read when looking for guards
MAX_DEPTH = 16  # caller chains followed this deep; deeper is not shown dispatched
FALL_THROUGH = 32  # bytes from a resolver target to an unwind start it runs into
DETECTION = frozenset({"OSXSAVE", "XSAVEOPT", "XSAVEC", "XSAVES"})  # detection code's own needs
SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
SHT_PROGBITS = 1
_REL32 = re.compile(rb"[\xe8\xe9]|\x0f[\x80-\x8f]", re.DOTALL)
_REL8 = re.compile(rb"[\xeb\x70-\x7f]", re.DOTALL)
_LEA = re.compile(rb"[\x48\x4c]\x8d[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]")
_RIP_MODRM = re.compile(rb"[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]")
_MOV_IMM32 = re.compile(rb"[\xb8-\xbf]|\x48\xc7[\xc0-\xc7]")
_RIP_STORE = re.compile(r"^(?:mov|or|and|add|xor|bts|btr)\w*$")
_RIP_OPERAND = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|\d+)\]")


class Structure:
    """Dispatch by function for one x86-64 file; questions are answered lazily and memoised."""

    def __init__(
        self,
        elf: ElfFile,
        data: bytes,
        regions: list[Region],
        symbols: Symbols,
        starts: list[int],
    ) -> None:
        self.elf, self.data, self.regions, self.symbols = elf, data, regions, symbols
        self.starts = starts
        self.start_set = frozenset(starts)
        self.relocs = isa_elf.relocations(elf, data)
        self.static: dict[int, str] = {}
        self._memo: dict[int, str | None] = {}
        self._refs: dict[int, set[int | None]] | None = None
        self._calls_to: dict[int, set[int | None]] = {}  # the direct calls and jumps among _refs
        self.entry = self.function_of(elf.entry) if elf.entry else None
        self._data_pointers: set[int] | None = None
        self._cpuid: set[int] | None = None
        self._ranges: list[tuple[int, int, str]] | None = None
        self._calls: list[int] | None = None
        resolvers = symbols.resolvers | set(self.relocs.irelative)
        targets: dict[int, int] = {}
        for resolver in sorted(resolvers):
            self.static[resolver] = "IFUNC resolver"
            for target in self._materialised(resolver):
                if target not in resolvers:
                    targets.setdefault(target, resolver)
        self._add_entries(targets)
        for target, resolver in targets.items():
            name = self.name(resolver) or f"{resolver:#x}"
            self.static.setdefault(target, f"IFUNC target (resolver {name})")
            follower = self._falls_into(target)
            if follower is not None:  # unwind data split the function after its first bytes
                self.static.setdefault(follower, f"IFUNC target (resolver {name})")
        for clone, name in symbols.clones.items():
            kind = "vector-ABI variant" if name.startswith("_ZGV") else "multi-versioning clone"
            self.static[clone] = f"{kind} {name}"
        self.whole = CALLER_CHOSEN.get(elf.soname or "")
        self.signs = bool(
            self.whole
            or self.static
            or symbols.variables
            or symbols.local_functions
            or self.relocs.slots
            or any(b"\x0f\xa2" in r.code for r in regions)
        )

    # --- lookups --------------------------------------------------------------------------

    def function_of(self, address: int) -> int | None:
        index = bisect.bisect_right(self.starts, address) - 1
        return self.starts[index] if index >= 0 else None

    def name(self, function: int | None) -> str | None:
        return None if function is None else self.symbols.name(function)

    def _bytes(self, function: int) -> tuple[Region, int, int] | None:
        """The region holding a function, and its [start, end) offsets there."""
        for region in self.regions:
            if region.addr <= function < region.addr + len(region.code):
                at = function - region.addr
                index = bisect.bisect_right(self.starts, function)
                end = self.starts[index] - region.addr if index < len(self.starts) else 1 << 62
                return region, at, min(end, len(region.code), at + MAX_FUNCTION)
        return None

    # --- the question -----------------------------------------------------------------------

    def why(self, address: int, extension: str = "") -> str | None:
        """Why the instruction at address runs only where the CPU was checked; None: not shown."""
        if self.whole is not None:
            return self.whole
        function = self.function_of(address)
        if function is None:
            return None
        reason = self._why(function, 0)
        if reason is None and extension in DETECTION and function in self.cpuid_functions():
            return "CPU detection code (cpuid)"
        return reason

    def _why(self, function: int, depth: int) -> str | None:
        if function in self._memo:
            return self._memo[function]
        reason = self.static.get(function)
        if reason is None and function != self.entry:
            reason = self._guard(function)
        if reason is None and depth < MAX_DEPTH:
            self._memo[function] = None  # a cycle shows nothing
            reason = self._only_callers(function, depth)
        self._memo[function] = reason
        return reason

    def _only_callers(self, function: int, depth: int) -> str | None:
        if function == self.entry:
            return None  # the kernel or the loader calls it
        if function in self.symbols.exported or function in self.data_pointers():
            return None
        callers = self.references().get(function, set()) - {function}
        callers |= self._near_jumps(function)
        if not callers or None in callers:
            return None
        for caller in sorted(c for c in callers if c is not None):
            if self._why(caller, depth + 1) is None:
                return None
        first = min(c for c in callers if c is not None)
        return f"reached only from dispatched code ({self.name(first) or hex(first)})"

    # --- guards ---------------------------------------------------------------------------

    def _guard(self, function: int) -> str | None:
        span = self._bytes(function)
        if span is None:
            return None
        region, at, end = span
        code, base = region.code, region.addr
        ranges = self.feature_ranges()
        if ranges:
            lo, hi = ranges[0][0], ranges[-1][1]
            for match in _RIP_MODRM.finditer(code, at + 1, end):
                q = match.start()
                if q + 5 > len(code):
                    break
                (disp,) = struct.unpack_from("<i", code, q + 1)
                for imm in (0, 1, 2, 4):
                    target = base + q + 5 + imm + disp
                    if lo <= target < hi:
                        for start, stop, what in ranges:
                            if start <= target < stop:
                                return f"reads {what}"
        calls = self.feature_calls()
        if calls:
            index = bisect.bisect_left(calls, base + at)
            if index < len(calls) and calls[index] < base + end:
                return "asks for the CPU's features (glibc cpu_features, getauxval(AT_HWCAP))"
        return None

    def feature_ranges(self) -> list[tuple[int, int, str]]:
        """Sorted [start, stop) address ranges that hold CPU features, and what they are."""
        if self._ranges is not None:
            return self._ranges
        ranges = [(v, v + size, name) for v, size, name in self.symbols.variables]
        for name, slots in self.relocs.slots.items():
            if name in isa_elf.FEATURE_VARIABLES:
                ranges.extend((slot, slot + 8, f"{name} (GOT)") for slot in slots)
        detectors = self.cpuid_functions()
        if detectors:
            self.references()
            calls = self._calls_to
            callers = {c for d in detectors for c in calls.get(d, set()) if c is not None}
            callers.discard(self.entry)
            for function in sorted(detectors | callers):
                for target, size in self._stores(function):
                    ranges.append((target, target + size, f"{target:#x} (stored after cpuid)"))
        self._ranges = sorted(ranges)
        return self._ranges

    def feature_calls(self) -> list[int]:
        """Addresses of calls to glibc's feature functions and of getauxval(AT_HWCAP)."""
        if self._calls is not None:
            return self._calls
        calls: set[int] = set()
        aux_slots = self.relocs.slots.get("getauxval", set())
        aux = isa_elf.plt_targets(self.elf, self.data, aux_slots) if aux_slots else set()
        if self.symbols.getauxval is not None:
            aux.add(self.symbols.getauxval)
        if aux or aux_slots:
            calls.update(isa_elf.hwcap_calls(self.regions, aux, aux_slots))
        targets = set(self.symbols.local_functions)
        slots: set[int] = set()
        for name in isa_elf.FEATURE_FUNCTIONS:
            slots |= self.relocs.slots.get(name, set())
        if slots:
            targets |= isa_elf.plt_targets(self.elf, self.data, slots)
        if targets or slots:
            for region in self.regions:
                code, base = region.code, region.addr
                for match in re.finditer(rb"[\xe8\xe9]|\xff\x15", code):
                    at = match.start()
                    width = 1 if code[at] != 0xFF else 2
                    if at + width + 4 > len(code):
                        break
                    (disp,) = struct.unpack_from("<i", code, at + width)
                    target = base + at + width + 4 + disp
                    if (target in slots) if width == 2 else (target in targets):
                        calls.add(base + at)
        self._calls = sorted(calls)
        return self._calls

    def cpuid_functions(self) -> set[int]:
        """Functions that really execute cpuid (the 0F A2 bytes decoded from the function start)."""
        if self._cpuid is not None:
            return self._cpuid
        found: set[int] = set()
        candidates: dict[int, list[int]] = {}
        for region in self.regions:
            for match in re.finditer(rb"\x0f\xa2", region.code):
                address = region.addr + match.start()
                function = self.function_of(address)
                if function is not None:
                    candidates.setdefault(function, []).append(address)
        for function, sites in candidates.items():
            wanted = set(sites)
            if any(a in wanted and m == "cpuid" for a, _, m, _ in self._decode(function)):
                found.add(function)
        self._cpuid = found
        return found

    def _decode(self, function: int) -> Iterator[tuple[int, int, str, str]]:
        span = self._bytes(function)
        if span is None:
            return iter(())
        region, at, end = span
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        return iter(cs.disasm_lite(region.code[at:end], region.addr + at))

    def _stores(self, function: int) -> list[tuple[int, int]]:
        """(address, size) of globals a function writes through RIP-relative operands."""
        out = []
        for address, size, mnemonic, op_str in self._decode(function):
            first = op_str.split(",", 1)[0]
            match = _RIP_OPERAND.search(first)
            if match is None or not _RIP_STORE.match(mnemonic) or "," not in op_str:
                continue
            disp = int(match.group(2), 0) * (-1 if match.group(1) == "-" else 1)
            width = (
                8 if "qword" in first else 4 if "dword" in first else 2 if "word" in first else 1
            )
            out.append((address + size + disp, width))
        return out

    # --- references ---------------------------------------------------------------------------

    def references(self) -> dict[int, set[int | None]]:
        """Function start -> functions whose code calls, jumps to or takes its address (rel32
        branches, RIP-relative lea; mov imm32 in non-PIE code); None: from outside any function."""
        if self._refs is not None:
            return self._refs
        refs: dict[int, set[int | None]] = {}
        starts, frm = self.start_set, int.from_bytes
        absolute = self.elf.type == "EXEC"
        for region in self.regions:
            code, base = region.code, region.addr
            for pattern, width in ((_REL32, 0), (_LEA, 0), (_MOV_IMM32, 1)):
                if width and not absolute:
                    continue
                for match in pattern.finditer(code):
                    q = match.end()
                    if q + 4 > len(code):
                        break
                    value = frm(code[q : q + 4], "little", signed=not width)
                    target = value if width else base + q + 4 + value
                    if target in starts:
                        source = self.function_of(base + match.start())
                        refs.setdefault(target, set()).add(source)
                        if pattern is _REL32:
                            self._calls_to.setdefault(target, set()).add(source)
        self._refs = refs
        return refs

    def _near_jumps(self, function: int) -> set[int | None]:
        """Functions with a rel8 jump to this start: only the 128 bytes around it can hold one."""
        span = self._bytes(function)
        if span is None:
            return set()
        region, at, _ = span
        code, base = region.code, region.addr
        out: set[int | None] = set()
        for match in _REL8.finditer(code, max(0, at - 130), min(len(code), at + 128)):
            q = match.start()
            if q + 2 <= len(code) and q + 2 + struct.unpack_from("<b", code, q + 1)[0] == at:
                source = self.function_of(base + q)
                if source != function:
                    out.add(source)
        return out

    def data_pointers(self) -> set[int]:
        """Function starts whose address data holds (function tables, callbacks): such a
        function can be called from anywhere."""
        if self._data_pointers is not None:
            return self._data_pointers
        found = set(self.start_set & self.relocs.pointers)
        for section in self.elf.sections:
            if (
                section.type == SHT_PROGBITS
                and section.flags & SHF_ALLOC
                and not section.flags & SHF_EXECINSTR
                and section.size >= 8
            ):
                raw = self.data[section.offset : section.offset + section.size]
                raw = raw[(-section.addr) % 8 :]
                words = array("Q")
                words.frombytes(raw[: len(raw) // 8 * 8])
                found |= self.start_set.intersection(words)
        self._data_pointers = found
        return found

    def _add_entries(self, entries: dict[int, int]) -> None:
        """A resolver's target is a function entry even where no symbol or unwind record
        starts there (static glibc's strcasecmp variants): make it one."""
        missing = [e for e in entries if e not in self.start_set]
        if missing:
            self.starts = sorted({*self.starts, *missing})
            self.start_set = frozenset(self.starts)

    def _falls_into(self, entry: int) -> int | None:
        """The next function start, when the code from `entry` runs straight into it within a
        few bytes (no return or jump in between): the same function, split by unwind data."""
        index = bisect.bisect_right(self.starts, entry)
        if index >= len(self.starts) or self.starts[index] - entry > FALL_THROUGH:
            return None
        nxt = self.starts[index]
        span = self._bytes(entry)
        if span is None:
            return None
        region = span[0]
        code = region.code[entry - region.addr : nxt - region.addr]
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        last = None
        for insn in cs.disasm(code, entry):
            last = insn
        if last is None or last.address + last.size != nxt:
            return None
        return None if last.mnemonic in ("ret", "jmp", "ud2", "hlt") else nxt

    def _materialised(self, resolver: int) -> set[int]:
        """Code addresses a resolver loads: the implementations it returns."""
        span = self._bytes(resolver)
        if span is None:
            return set()
        region, at, end = span
        code, base = region.code, region.addr
        out = set()
        for match in _LEA.finditer(code, at, end):
            q = match.end()
            if q + 4 <= len(code):
                target = base + q + 4 + struct.unpack_from("<i", code, q)[0]
                if target in self.start_set or self._in_code(target):
                    out.add(target)
        for match in _MOV_IMM32.finditer(code, at, end):
            q = match.end()
            if q + 4 <= len(code):
                target = struct.unpack_from("<I", code, q)[0]
                if target in self.start_set:
                    out.add(target)
        return out

    def _in_code(self, address: int) -> bool:
        return any(r.addr <= address < r.addr + len(r.code) for r in self.regions)
