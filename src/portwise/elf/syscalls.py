"""System calls an ELF file issues itself, whatever it is (x86-64 and aarch64).

A program reaches the kernel through its libc's named functions (the libc model covers those),
or by itself: `syscall`/`svc #0` instructions (static, musl and Go binaries, and inline
assembly in any shared library), or libc's generic `syscall(number, ...)` called through the
PLT or straight through the GOT (-fno-plt). This scan finds the last two kinds. Method
(DESIGN.md, "Direct syscalls"): find every `syscall` / `svc #0`, walk back from it through
register copies and stack spills to the constant number, within its function. When the number
comes from the function's entry state (an argument), the function is a *wrapper*: its number is
resolved at each direct branch to it, transitively (Go's Syscall6 <- RawSyscall6 <- Syscall;
musl's __syscall_cp_asm <- __syscall_cp_c). libc's `syscall()` is such a wrapper from the
start: its PLT stub and its GOT slot take the number in the first argument register, so the
number is resolved at each call through either. Every issuing point keeps its path: "direct"
(an instruction with a constant), "syscall()" (a call to libc's syscall()) or "thunk" (a
call to a wrapper inside the file). Function boundaries come from .gopclntab (Go, even
stripped), else .symtab, else .eh_frame; code outside them is decoded as gap regions.

Full mode decodes every region. Fast mode finds syscall opcodes and branches to wrappers in the
raw bytes, and decodes only the regions that hold them: the same regions decode the same way,
so both modes give the same answer by construction (a test checks it on every test binary).
A syscall present in a binary is not a requirement: Go and glibc try new calls and fall back.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from portwise.elf import syscalls_arm64, syscalls_x86
from portwise.elf.gofunc import functions, in_file
from portwise.elf.parse import ElfFile
from portwise.elf.regions import SHF_EXECINSTR, Regions, code_ranges
from portwise.elf.relocs import import_slots
from portwise.elf.walk import Loc, Op, apply
from portwise.knowledge import syscalls as table

TRACE_BUDGET = 4096  # walk-back states per site: far above real code, bounds hostile loops
MAX_WRAPPERS = 512
MAX_SHOWN = 3  # issuing points named in a problem line; the count says the rest
GAP_SPLIT = 4096  # gaps larger than this are split at call targets
EVIDENCE = 3  # issuing points kept per syscall name
GENERIC = frozenset({"syscall"})  # libc's generic entry: syscall(number, ...)
PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got", ".iplt")
DIRECT, GENERIC_CALL, THUNK = "direct", "syscall()", "thunk"
PADDING = frozenset({"nop", "int3", "udf"})  # after a jump: unreachable filler


@dataclass(frozen=True, slots=True)
class SyscallScan:
    """Direct syscalls of one binary.

    sites: syscall/svc instructions. resolved: syscall name -> issuing points, where a point is
    a syscall instruction with a constant number or a branch to a wrapper with one.
    unresolved: points whose number could not be determined (never silently dropped),
    including wrappers that nothing calls directly. paths: syscall name -> the paths that
    reach it; evidence: syscall name -> the first issuing points ("0x4011a6 syscall()").
    unresolved_paths: path -> unresolved points.
    """

    arch: str
    mode: str
    sites: int
    resolved: dict[str, int]
    unresolved: int
    wrappers: tuple[str, ...]
    problems: tuple[str, ...]
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unresolved_paths: dict[str, int] = field(default_factory=dict)


def _arch_module(elf: ElfFile) -> ModuleType | None:
    if elf.elf_class != 64 or elf.endian != "little":
        return None
    return _ARCHES.get(elf.machine)


_ARCHES: dict[str, ModuleType] = {"x86-64": syscalls_x86, "aarch64": syscalls_arm64}


@dataclass(slots=True)
class _Decoded:
    index: int
    start: int
    is_func: bool
    trusted: bool
    ins: list[tuple[int, int, str, str]]
    kinds: list[str | None]
    jumps: dict[int, list[int]]
    sites: list[int]
    data_bytes: int

    def dead_padding(self, i: int) -> bool:
        """Whether instruction i is filler that nothing reaches (e.g. after a ret)."""
        for _ in range(64):
            if not _padding(self.ins[i]):
                return False
            preds = self.preds(i)
            if not preds:
                return True
            if len(preds) > 1:
                return False
            i = preds[0]
        return False

    def preds(self, i: int) -> list[int]:
        out = list(self.jumps.get(i, ()))
        if i > 0 and self.kinds[i - 1] not in ("jump", "stop"):
            prev = self.ins[i - 1]
            if prev[0] + prev[1] == self.ins[i][0]:
                out.append(i - 1)
        return out


def _padding(insn: tuple[int, int, str, str]) -> bool:
    return insn[2] in PADDING or (insn[2] == "xchg" and insn[3] == "ax, ax")


@dataclass(slots=True)
class _Trace:
    consts: set[int] = field(default_factory=set)
    args: set[tuple[int, Loc]] = field(default_factory=set)  # (function entry, location)
    unknown: list[str] = field(default_factory=list)


class _Scanner:
    def __init__(self, elf: ElfFile, data: bytes, arch: ModuleType) -> None:
        self.elf = elf
        self.data = data
        self.arch = arch
        self.slot_refs: set[int] = set()  # GOT slots whose indirect callers are recorded
        self.plt_ranges: list[tuple[int, int]] = []
        self.seed_entries: set[int] = set()
        self.fast = True
        self.all_decoded = False
        self.ranges, problems = code_ranges(elf, data)
        self.funcs = functions(elf, data)
        self.problems = problems + self.funcs.problems
        self.regions = Regions(self.ranges, self.funcs)
        self.candidates = [
            r.addr + offset
            for r in self.ranges
            for offset in arch.raw_sites(data[r.offset : r.offset + r.size])
        ]
        if self._gaps_with_candidates():
            self._split_gaps()
        self.md = arch.disassembler()
        self.decoded: dict[int, _Decoded] = {}
        self.callers: dict[int, list[tuple[int, int, str]]] = {}
        self.indexes: list[Any] | None = None

    def _gaps_with_candidates(self) -> list[tuple[int, int]]:
        """Large gaps holding a raw syscall candidate: only there do boundaries matter for
        sites; elsewhere a walk that meets code after a `ret` asks whether it is branched to."""
        regions = self.regions
        holding = {regions.find(a) for a in self.candidates}
        return [
            (regions.starts[ri], regions.ends[ri])
            for ri in sorted(r for r in holding if r is not None)
            if regions.ends[ri] - regions.starts[ri] > GAP_SPLIT and not regions.is_func[ri]
        ]

    def _split_gaps(self) -> None:
        """Start functions at call targets inside large gaps (code without boundary data).

        A target counts when two call patterns reach it, or one does and it is 16-aligned:
        random bytes rarely agree on a target. A wrong start can only turn a resolved number
        into an unresolved one (the walk back stops there), never into a wrong number.
        """
        gaps = self._gaps_with_candidates()
        lows = [g[0] for g in gaps]
        counts: Counter[int] = Counter()
        for r in self.ranges:
            for target in self.arch.call_targets(self.data[r.offset : r.offset + r.size], r.addr):
                g = bisect_right(lows, target) - 1
                if g >= 0 and gaps[g][0] < target < gaps[g][1]:
                    counts[target] += 1
        inferred = [t for t, n in counts.items() if n >= 2 or (n == 1 and t % 16 == 0)]
        for target in inferred:
            if target not in self.funcs.starts:
                self.funcs.starts[target] = 0
                self.funcs.inferred.add(target)
        self.regions = Regions(self.ranges, self.funcs)

    # decoding ------------------------------------------------------------
    def decode(self, ri: int) -> _Decoded:
        found = self.decoded.get(ri)
        if found is not None:
            return found
        regions = self.regions
        start, end = regions.starts[ri], regions.ends[ri]
        r = self.ranges[regions.range_of[ri]]
        at = r.offset + start - r.addr
        ins = list(self.md.disasm_lite(self.data[at : at + end - start], start))
        classify = self.arch.classify
        kinds: list[str | None] = []
        index = {insn[0]: i for i, insn in enumerate(ins)}
        jumps: dict[int, list[int]] = {}
        sites, data_bytes = [], 0
        for i, (_addr, size, mnemonic, op_str) in enumerate(ins):
            kind, target = classify(mnemonic, op_str)
            kinds.append(kind)
            if kind == "site":
                sites.append(i)
            elif kind == "data":
                data_bytes += size
            elif target is not None and kind in ("call", "jump", "cjump"):
                if kind != "call" and start <= target < end:
                    if target in index:
                        jumps.setdefault(index[target], []).append(i)
                else:
                    self.callers.setdefault(target, []).append((ri, i, kind))
        if self.slot_refs:
            for i, slot in self.arch.slot_calls(ins, kinds).items():
                if slot in self.slot_refs:
                    kind = "call" if kinds[i] == "icall" else "jump"
                    self.callers.setdefault(slot, []).append((ri, i, kind))
        found = _Decoded(
            ri,
            start,
            regions.is_func[ri],
            regions.trusted[ri],
            ins,
            kinds,
            jumps,
            sites,
            data_bytes,
        )
        self.decoded[ri] = found
        return found

    def find_callers(self, targets: list[int], fast: bool) -> None:
        """Make sure every region holding a direct branch to the targets is decoded.

        Full mode decoded everything already; fast mode decodes the regions that raw bytes
        point at (one pass over the branch index for all targets of a round).
        """
        if not fast or not targets:
            return
        if self.indexes is None:
            self.indexes = [
                self.arch.BranchIndex(self.data[r.offset : r.offset + r.size], r.addr)
                for r in self.ranges
            ]
        if self.slot_refs.intersection(targets):
            for index in self.indexes:
                index.index_slots()
        for index in self.indexes:
            for source in index.sources(targets):
                ri = self.regions.find(source)
                if ri is not None:
                    self.decode(ri)
            if index.near:
                for target in targets:
                    for ri in self.regions.overlapping(target - index.near, target + index.near):
                        self.decode(ri)

    # walking back -----------------------------------------------------------
    def trace(self, dec: _Decoded, i0: int, loc0: Loc) -> _Trace:
        """Walk back from instruction i0 of a region, following the value at loc0.

        States are (region, instruction, location, pending arithmetic); a state means "the
        value is at location just before the instruction". Regions without trusted
        boundaries (gaps, .eh_frame ranges, guessed starts) are entered from the previous
        region when its last instruction falls through: hand-written asm often ends its
        unwind range before a syscall (glibc's clone).
        """
        out = _Trace()
        work: list[tuple[int, int, Loc, tuple[Op, ...]]] = [(dec.index, i0, loc0, ())]
        seen: set[tuple[int, int, Loc, tuple[Op, ...]]] = set()
        while work:
            state = work.pop()
            if state in seen:
                continue
            seen.add(state)
            if len(seen) > TRACE_BUDGET:
                out.unknown.append("walk-back budget exhausted")
                break
            ri, i, loc, ops = state
            here = self.decode(ri)
            preds = [(here, p) for p in here.preds(i)]
            if i == 0:
                before = self._falls_into(here)
                if before is not None:
                    preds.append((before, len(before.ins) - 1))
                elif here.is_func or self._branched_to(here.start):
                    self._entry(out, here.start, loc, ops)
                else:
                    out.unknown.append("value comes from before a code gap")
            elif not preds and not _padding(here.ins[i]):
                if not here.trusted and self._branched_to(here.ins[i][0]):
                    # code without boundary data that other code calls or jumps to directly
                    # (musl's syscall body after a `ret`, reached by a jmp stub): an entry
                    self._entry(out, here.ins[i][0], loc, ops)
                else:
                    # reached only through a jump table or a landing pad: its value is unknown
                    out.unknown.append("no direct predecessor (indirect jump target)")
            for pdec, p in preds:
                if len(preds) == 1 and not pdec.trusted and pdec.dead_padding(p):
                    # without boundary data, code after dead padding starts a function
                    self._entry(out, here.ins[i][0], loc, ops)
                else:
                    self._step(out, work, pdec, p, pdec is here and p == i - 1, loc, ops)
        return out

    def _branched_to(self, addr: int) -> bool:
        """Does a direct call or jump from another region reach this address?"""
        if self.fast:
            self.find_callers([addr], True)
        elif not self.all_decoded:
            for ri in range(len(self.regions.starts)):
                self.decode(ri)
            self.all_decoded = True
        return bool(self.callers.get(addr))

    def _falls_into(self, dec: _Decoded) -> _Decoded | None:
        """The region before an untrusted region, when its last instruction runs into it."""
        ri = dec.index
        if dec.trusted and self.funcs.source != ".eh_frame":
            return None
        if ri == 0 or self.regions.ends[ri - 1] != dec.start:
            return None
        before = self.decode(ri - 1)
        if not before.ins or before.kinds[-1] in ("jump", "stop", "data", "call", "icall"):
            return None
        last = before.ins[-1]
        return before if last[0] + last[1] == dec.start else None

    def _step(
        self,
        out: _Trace,
        work: list[tuple[int, int, Loc, tuple[Op, ...]]],
        dec: _Decoded,
        p: int,
        fallthrough: bool,
        loc: Loc,
        ops: tuple[Op, ...],
    ) -> None:
        """Move the walk back over instruction p of dec."""
        insn, kind = dec.ins[p], dec.kinds[p]
        if kind == "data":
            out.unknown.append("undecodable bytes")
            return
        if kind == "cjump":
            before = dec.ins[p - 1] if p > 0 else None
            known = self.arch.edge_value(before, insn, not fallthrough, loc)
            if known is not None:
                out.consts.add(apply(ops, known))
                return
        outcome = self.arch.step(insn[2], insn[3], loc, self.funcs.go)
        tag = outcome[0]
        if tag == "pass":
            work.append((dec.index, p, loc, ops))
        elif tag == "move":
            new_loc = outcome[1]
            if isinstance(new_loc, int) and abs(new_loc) > 1 << 20:
                out.unknown.append("stack offset out of reach")
                return
            work.append((dec.index, p, new_loc, (outcome[2], *ops) if outcome[2] else ops))
        elif tag == "const":
            out.consts.add(apply(ops, outcome[1]))
        elif tag == "fork":
            work.extend((dec.index, p, branch, ops) for branch in outcome[1])
        else:
            out.unknown.append(outcome[1])

    def _entry(self, out: _Trace, entry: int, loc: Loc, ops: tuple[Op, ...]) -> None:
        if ops:
            out.unknown.append("arithmetic on an argument")
        elif isinstance(loc, int) and loc < self.arch.FIRST_STACK_ARG:
            out.unknown.append("value comes from below the entry stack pointer")
        else:
            out.args.add((entry, loc))

    # the scan ------------------------------------------------------------
    def _generic_seeds(self) -> tuple[list[tuple[int, Loc]], bool]:
        """Entries of libc's syscall(): its PLT stubs and GOT slots, number in ARG0.

        Returns the seeds and whether some slot is reached other than through the PLT.
        """
        slots = import_slots(self.elf, self.data, GENERIC)
        if not slots:
            return [], False
        addresses = {s.address for s in slots}
        stubs: dict[int, int] = {}
        for section in self.elf.sections:
            if section.name in PLT_SECTIONS and section.flags & SHF_EXECINSTR and section.size:
                if not in_file(self.data, section.offset, section.size):
                    continue
                self.plt_ranges.append((section.addr, section.addr + section.size))
                code = self.data[section.offset : section.offset + section.size]
                stubs.update(self.arch.plt_stubs(list(self.md.disasm_lite(code, section.addr))))
        arg = self.arch.ARG0
        seeds = [(stub, arg) for stub, slot in sorted(stubs.items()) if slot in addresses]
        self.slot_refs = addresses
        self.seed_entries = set(stubs) | addresses
        return seeds + [(a, arg) for a in sorted(addresses)], not all(s.plt for s in slots)

    def run(self, fast: bool) -> SyscallScan:
        self.fast = fast
        seeds, beyond_plt = self._generic_seeds()
        if fast:
            found = (self.regions.find(a) for a in self.candidates)
            site_regions = sorted({ri for ri in found if ri is not None})
        else:
            site_regions = list(range(len(self.regions.starts)))
        points: dict[tuple[int, int, Loc], tuple[_Trace, str]] = {}
        wanted: list[tuple[int, Loc]] = list(seeds)
        wrappers: set[tuple[int, Loc]] = set(seeds)  # (entry, location of the number)
        origin: dict[tuple[int, Loc], str] = dict.fromkeys(seeds, GENERIC_CALL)
        relevant: set[int] = set()
        sites = 0

        def note(key: tuple[int, int, Loc], result: _Trace, ri: int, path: str) -> None:
            points[key] = (result, path)
            relevant.add(ri)
            for arg in sorted(result.args, key=str):
                if arg not in wrappers and len(wrappers) < MAX_WRAPPERS:
                    wrappers.add(arg)
                    wanted.append(arg)
                    origin[arg] = GENERIC_CALL if path == GENERIC_CALL else THUNK

        for ri in site_regions:
            dec = self.decode(ri)
            for i in dec.sites:
                sites += 1
                key = (dec.ins[i][0], 0, self.arch.NR)
                note(key, self.trace(dec, i, self.arch.NR), ri, DIRECT)
        if not fast or (beyond_plt and not self.arch.SLOTS_FROM_BYTES):
            for ri in range(len(self.regions.starts)):
                self.decode(ri)
        orphans: list[str] = []
        generic_called = False
        while wanted:
            batch, wanted = sorted(wanted, key=str), []
            self.find_callers(sorted({start for start, _ in batch}), fast)
            for start, loc in batch:
                callers = [
                    c for c in sorted(self.callers.get(start, ())) if not self._in_caller_plt(c)
                ]
                seed = (start, loc) in seeds
                generic_called |= seed and bool(callers)
                if not callers and not seed:
                    orphans.append(self._name(start))
                for cri, ci, kind in callers:
                    dec = self.decode(cri)
                    key = (dec.ins[ci][0], start, loc)
                    if key not in points:
                        result = self.trace(dec, ci, self.arch.caller_loc(loc, kind))
                        note(key, result, cri, origin[(start, loc)])
        if seeds and not generic_called:
            orphans.append(
                "syscall (imported, but no call to it was found: called through a pointer?)"
            )
        if len(wrappers) >= MAX_WRAPPERS:
            self.problems.append(f"more than {MAX_WRAPPERS} wrappers: the rest were not followed")
        return self._result(fast, sites, points, wrappers - set(seeds), orphans, relevant)

    def _in_caller_plt(self, caller: tuple[int, int, str]) -> bool:
        """A caller inside a PLT section: the stub's own jump through the slot, not a call."""
        start = self.regions.starts[caller[0]]
        return any(lo <= start < hi for lo, hi in self.plt_ranges)

    def _name(self, start: int) -> str:
        return self.funcs.namer(start) or f"{start:#x}"

    def _result(
        self,
        fast: bool,
        sites: int,
        points: dict[tuple[int, int, Loc], tuple[_Trace, str]],
        wrappers: set[tuple[int, Loc]],
        orphans: list[str],
        relevant: set[int],
    ) -> SyscallScan:
        names = table.table(self.arch.NAME)
        resolved: Counter[str] = Counter()
        paths: dict[str, set[str]] = {}
        evidence: dict[str, list[str]] = {}
        unresolved_paths: Counter[str] = Counter(
            GENERIC_CALL if o.startswith("syscall ") else THUNK for o in orphans
        )
        unknown_at: list[str] = []
        bad: set[int] = set()
        for (addr, start, _loc), (result, path) in sorted(points.items(), key=lambda kv: kv[0][:2]):
            found = {names.get(c & 0xFFFFFFFF) for c in result.consts}
            bad |= {c for c in result.consts if c & 0xFFFFFFFF not in names}
            shown = f"{addr:#x} {path}"
            if start and start not in self.seed_entries:
                shown += f" through {self._name(start)}"
            for name in found - {None}:
                assert name is not None
                resolved[name] += 1
                paths.setdefault(name, set()).add(path)
                if len(evidence.setdefault(name, [])) < EVIDENCE:
                    evidence[name].append(shown)
            if result.unknown or (found <= {None} and not result.args):
                unresolved_paths[path] += 1
                why = result.unknown[0] if result.unknown else "no number on any path"
                if result.consts and not result.unknown:
                    why = "number not in the syscall table"
                unknown_at.append(f"{addr:#x} {path} ({why})")
        problems = list(self.problems)
        if unknown_at:
            shown_all = ", ".join(unknown_at[:MAX_SHOWN])
            more = f" and {len(unknown_at) - MAX_SHOWN} more" if len(unknown_at) > MAX_SHOWN else ""
            problems.append(f"{len(unknown_at)} issuing points unresolved: {shown_all}{more}")
        if bad:
            problems.append(
                "numbers not in the table: " + ", ".join(f"{n:#x}" for n in sorted(bad))
            )
        for name in sorted(set(orphans)):
            problems.append(f"wrapper {name} has no direct callers")
        skipped = sum(self.decode(ri).data_bytes for ri in relevant)
        if skipped:
            problems.append(f"{skipped} undecodable bytes (data in code) in functions with calls")
        return SyscallScan(
            arch=self.arch.NAME,
            mode="fast" if fast else "full",
            sites=sites,
            resolved=dict(sorted(resolved.items())),
            unresolved=sum(unresolved_paths.values()),
            wrappers=tuple(sorted({self._name(entry) for entry, _ in wrappers})),
            problems=tuple(problems),
            paths={n: tuple(sorted(p)) for n, p in sorted(paths.items())},
            evidence={n: tuple(e) for n, e in sorted(evidence.items())},
            unresolved_paths=dict(sorted(unresolved_paths.items())),
        )


def scan_syscalls(elf: ElfFile, data: bytes, *, fast: bool = True) -> SyscallScan | None:
    """Direct syscalls of one ELF file; None when its architecture is not supported.

    `data` is the whole file. Hostile bytes give a scan with problems, never an exception.
    """
    arch = _arch_module(elf)
    if arch is None:
        return None
    ranges, problems = code_ranges(elf, data)
    generic = any(i.name in GENERIC for i in elf.imports)
    if not generic and not any(arch.raw_sites(data[r.offset : r.offset + r.size]) for r in ranges):
        # raw bytes are a superset of the instructions: no candidate, nothing to decode
        mode = "fast" if fast else "full"
        return SyscallScan(arch.NAME, mode, 0, {}, 0, (), tuple(problems))
    return _Scanner(elf, data, arch).run(fast)
