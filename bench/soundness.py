"""Soundness of the syscall scan against strace: calls real programs made that portwise missed.

    .venv/bin/python bench/soundness.py [LABEL ...]      (default: every program below)

Each program runs under `strace -f -qq -k` with a few representative invocations; the calls
made by its processes (not by programs it executes) are the truth. portwise's set for it is
what an image scan computes: elf_facts() of the program and of every shared object its
processes opened (the loader, DT_NEEDED closure and dlopen'ed modules, read from the strace log),
turned into model.image.ElfBinary as image/profile.py does, then image.binaries.syscall_union()
with this machine's glibc as the image's libc.

strace truth is a LOWER BOUND: only the paths these invocations exercised. Extras are not
errors (a path not taken, a fallback that was not needed), so precision is a lower bound too.
For comparison, B-Side (Thévenon et al., 2022) reports F1 0.81 on its own benchmark.

Every miss is explained from strace's stack (-k) of each event: the object and function that
issued it. Symbol names in stripped libraries are the nearest exported symbol (approximate).
Calls made by the loader and libc's start-up code with no frame of the program or its libraries
on the stack ("process start") are listed apart, with whether the libc model's "<process>"
entry names them; the totals are given with and without them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from portwise.elf.facts import GLIBC_OWN, elf_facts
from portwise.elf.parse import ElfError, parse_elf
from portwise.knowledge import seccomp
from portwise.knowledge import syscalls as table
from portwise.knowledge.libc import PROCESS, libc_syscalls, load_model
from portwise.model.image import CpuNeeds, DirectSyscalls, ElfBinary, Libc
from portwise.versions import version_key

try:  # where an image scan computes it (moved out of image/binaries.py during issue 11)
    from portwise.image.syscalls import syscall_union
except ImportError:
    from portwise.image.syscalls import syscall_union

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path("/var/cache/portwise-fixtures/binaries-v1")
WHEELS = Path("/tmp/portwise-bench-wheels")
B_SIDE_F1 = 0.81
STRACE_TIMEOUT = 300
SO_PATH = re.compile(r"\.so(\.[0-9.]+)?$")
LINE = re.compile(r"^(\d+) +(?:<\.\.\. ([a-z0-9_]+) resumed>|([a-z0-9_?]+)\()(.*)$")
RESULT = re.compile(r"\) += (-?\d+|0x[0-9a-f]+)")
FRAME = re.compile(r"^ > (\S+?)(?:\((\S*?)(?:\+0x[0-9a-f]+)?\))? \[(0x[0-9a-f]+)\]")
FORKS = {"clone", "clone3", "fork", "vfork"}
GLIBC_VERSION = re.compile(r"(\d+\.\d+)")


@dataclass
class Program:
    label: str
    binary: str  # the executable whose processes are judged
    runs: list[list[str]]  # argv lists; "{w}" is the work directory
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Event:
    name: str
    pid: int
    seq: int
    stack: list[tuple[str, str]] = field(default_factory=list)  # (object, symbol), innermost first
    pc: int = 0  # the innermost frame's address (in the object, for PIE and shared objects)


@dataclass
class Trace:
    events: list[Event]
    execs: dict[int, list[tuple[int, str]]]  # pid -> [(seq, image)]
    parent: dict[int, tuple[int, int]]  # child pid -> (parent pid, seq of the fork)
    opened: list[tuple[int, int, str]]  # (pid, seq, path) of shared objects opened

    def image(self, pid: int, seq: int) -> str | None:
        for at, image in reversed(self.execs.get(pid, [])):
            if at < seq:
                return image
        if pid in self.parent:
            ppid, at = self.parent[pid]
            return self.image(ppid, at)
        return None


def parse_strace(text: str) -> Trace:
    events: list[Event] = []
    execs: dict[int, list[tuple[int, str]]] = {}
    parent: dict[int, tuple[int, int]] = {}
    opened: list[tuple[int, int, str]] = []
    pending: dict[int, tuple[Event, str]] = {}  # pid -> (event, arguments before the split)
    last: Event | None = None
    for seq, line in enumerate(text.splitlines()):
        frame = FRAME.match(line)
        if frame:
            if last is not None:
                if not last.stack:
                    last.pc = int(frame.group(3), 16)
                last.stack.append((frame.group(1), frame.group(2) or ""))
            continue
        m = LINE.match(line)
        if not m:
            last = None  # signals, exits
            continue
        pid = int(m.group(1))
        if m.group(2):  # a resumed call: its stack, its result
            event, head = pending.pop(pid, (None, ""))
            name, rest = m.group(2), head + m.group(4)
            if event is None:
                event = Event(name, pid, seq)
                events.append(event)
        else:
            name, rest = m.group(3), m.group(4)
            event = Event(name, pid, seq)
            events.append(event)
            if rest.endswith("<unfinished ...>"):
                pending[pid] = (event, rest.removesuffix("<unfinished ...>"))
                last = event
                continue
        last = event
        result = RESULT.search(rest)
        if result is None:
            continue
        raw = result.group(1)
        value = int(raw, 16) if raw.startswith("0x") else int(raw)
        if name == "execve" and value == 0:
            path = re.match(r'"([^"]*)"', rest) or re.search(r'"([^"]*)"', rest)
            if path:
                execs.setdefault(pid, []).append((event.seq, os.path.realpath(path.group(1))))
        elif name in FORKS and value > 0:
            parent[value] = (pid, event.seq)
        elif name in ("openat", "open") and value >= 0:
            path = re.search(r'"([^"]*)"', rest)
            if path and SO_PATH.search(path.group(1)):
                opened.append((pid, event.seq, os.path.realpath(path.group(1))))
    return Trace(events, execs, parent, opened)


def run_traced(program: Program, work: Path) -> Trace:
    texts = []
    for argv in program.runs:
        argv = [a.replace("{w}", str(work)) for a in argv]
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as log:
            subprocess.run(
                ["strace", "-f", "-qq", "-k", "-o", log.name, "--", *argv],
                cwd=work,
                env={**os.environ, **program.env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=STRACE_TIMEOUT,
                check=False,
            )
            texts.append(log.read())
    # one trace per run, seq numbers kept apart by offsetting the pids' namespaces: pids of
    # separate runs do not collide in practice within seconds, but offset anyway
    merged = "\n".join(_offset_pids(t, i * 10_000_000) for i, t in enumerate(texts))
    return parse_strace(merged)


def _offset_pids(text: str, offset: int) -> str:
    if not offset:
        return text
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\d+)( .*)$", line)
        out.append(f"{int(m.group(1)) + offset}{m.group(2)}" if m else line)
    # fork results name child pids: offset them too
    return re.sub(
        r"^(\d+ (?:clone3?|v?fork)\(.*\) += )(\d+)",
        lambda m: m.group(1) + str(int(m.group(2)) + offset),
        "\n".join(out),
        flags=re.M,
    )


# ---------------------------------------------------------------- portwise's side


PROBLEMS: dict[str, list[str]] = {}  # path -> elf_facts problems (unresolved sites and why)


@cache
def binary_of(path: str) -> ElfBinary | None:
    """What an image scan records for this file (see image/profile.py _binaries)."""
    try:
        data = Path(path).read_bytes()
        elf = parse_elf(data)
    except (OSError, ElfError):
        return None
    facts = elf_facts(elf, data)
    PROBLEMS[path] = list(facts.pop("problems", []))
    direct = facts.pop("direct_syscalls", None)
    cpu = facts.pop("cpu", None)
    names = {f.name for f in dataclasses.fields(ElfBinary)}
    unknown = set(facts) - names
    if unknown:
        print(f"  (facts fields not in ElfBinary, ignored: {sorted(unknown)})")
    return ElfBinary(
        path=path,
        layer=0,
        **{k: v for k, v in facts.items() if k in names},
        direct_syscalls=DirectSyscalls(**direct) if direct else None,
        cpu=CpuNeeds(**cpu) if cpu else None,
    )


def machine_glibc() -> list[Libc]:
    out = subprocess.run(["ldd", "--version"], capture_output=True, text=True, check=True).stdout
    version = GLIBC_VERSION.search(out.splitlines()[0])
    return [
        Libc(
            family="glibc",
            version=version.group(1) if version else None,
            path="/usr/lib/x86_64-linux-gnu/libc.so.6",
            layer=0,
            evidence="ldd --version on this machine",
        )
    ]


@cache
def model_entries() -> dict[str, list[str]]:
    """glibc function -> "id: calls" of the libc model's entries naming it."""
    found: dict[str, list[str]] = {}
    for e in load_model().entries:
        if e.family == "glibc":
            for f in e.functions:
                steps = ", ".join(step.syscall for step in e.steps) or "no calls"
                found.setdefault(f, []).append(f"{e.id}: {steps}")
    return found


def aliases(symbol: str) -> list[str]:
    """A stripped libc's nearest exported symbol and the public names it may stand for."""
    names = [symbol, symbol.removeprefix("__libc_"), symbol.lstrip("_")]
    names += [n.removesuffix("64") for n in names] + [n.removesuffix("_unlocked") for n in names]
    return list(dict.fromkeys(n for n in names if n))


@cache
def process_start_calls(version: str | None) -> frozenset[str]:
    uses, _ = libc_syscalls("glibc", version, "x86-64", [])
    return frozenset(u.syscall for u in uses if u.function == PROCESS)


# ---------------------------------------------------------------- explaining misses

OLD_KERNEL = (3, 0)  # calls older than this exist on every host kernel portwise judges


@cache
def notable(name: str) -> bool:
    """A call that can decide a verdict: some shipped default profile denies it or allows it
    only under argument conditions, or it is newer than Linux 3.0 (missing on old kernels)."""
    since = table.introduced(name, "x86-64")
    return bool(denied_by(name)) or (since is not None and version_key(since) >= OLD_KERNEL)


@cache
def denied_by(name: str) -> tuple[str, ...]:
    """Shipped default seccomp profiles that do not plainly allow this call on x86-64: a miss
    that every profile allows cannot turn a verdict into a false PASS."""
    denied = []
    for profile in seccomp.profiles():
        try:
            decision = seccomp.decide(profile, name, "x86-64")
        except (KeyError, ValueError):
            denied.append(profile)
            continue
        if decision.action != "allow" or "arg" in decision.reason:
            denied.append(profile)
    return tuple(denied)


def glibc_own(obj: str) -> bool:
    return bool(GLIBC_OWN.match(os.path.basename(obj)))


def attribution(event: Event) -> tuple[str, str]:
    """(kind, where) of one event from its stack."""
    stack = event.stack
    if not stack or stack[0][0].startswith("unexpected_backtracing_error"):
        return "no-stack", "strace could not unwind"
    inner = stack[0][0]
    if inner == "[vdso]" or "vdso" in inner:
        return "vdso", "vDSO fallback"
    if not glibc_own(inner):
        return "raw", f"{os.path.basename(inner)}:{stack[0][1] or '?'} returning to {event.pc:#x}"
    i = 0
    while i + 1 < len(stack) and glibc_own(stack[i + 1][0]):
        i += 1
    entry_obj, entry_sym = stack[i]
    if i + 1 == len(stack):
        if all("ld-linux" in os.path.basename(o) for o, _ in stack):
            return "process-start", "ld.so (loader, before main)"
        outer = stack[-1][1]
        return "libc-only", (
            f"{os.path.basename(entry_obj)}:{entry_sym} (only libc frames, outermost {outer}:"
            " libc start-up, a thread's start, or the unwinder stopped)"
        )
    caller = stack[i + 1][0]
    if "ld-linux" in os.path.basename(entry_obj):
        return "loader", f"{os.path.basename(caller)} -> ld.so:{entry_sym} (dlopen/lazy binding)"
    return "libc", f"{os.path.basename(caller)} -> {os.path.basename(entry_obj)}:{entry_sym}"


NO_STACK = {  # calls strace cannot unwind, by what always issues them
    "exit_group": "exit()/_exit() in libc: the process is gone before strace can unwind;"
    " libc's exit path is not in the libc model (allowed everywhere)",
    "rt_sigreturn": "the signal trampoline (libc's __restore_rt, set by sigaction) returning"
    " from a handler: issued by the kernel's signal frame, no caller to scan",
}


def explain(name: str, kind: str, where: str, binaries: dict[str, ElfBinary]) -> str:
    if kind == "libc":
        caller, callee = where.split(" -> ")
        function = callee.split(":", 1)[1]
        by_name = {os.path.basename(p): b for p, b in binaries.items()}
        imports = set(by_name[caller].libc_imports) if caller in by_name else set()
        names = aliases(function)
        imported = next((n for n in names if n in imports), None)
        entries = next((model_entries()[n] for n in names if n in model_entries()), None)
        if function == "syscall":
            b = by_name.get(caller)
            unresolved = b.direct_syscalls.unresolved if b and b.direct_syscalls else 0
            return (
                f"libc syscall() with a number portwise did not resolve ({unresolved}"
                f" unresolved in {caller})"
            )
        if entries:
            return (
                f"the libc model has {'; '.join(entries)}: this call not listed (the model"
                " lists only calls some host may deny)"
            )
        if imported:
            return f"{imported} is imported but missing from the libc model"
        return (
            f"{function} (nearest exported symbol; not imported as such by {caller}: reached"
            " inside libc from an imported function) is missing from the libc model"
        )
    if kind == "raw":
        obj = where.split(":", 1)[0]
        named = ((p, b) for p, b in binaries.items() if os.path.basename(p) == obj)
        path, b = next(named, ("", None))
        if b is None:
            return "raw instruction in an object portwise did not see loaded"
        d = b.direct_syscalls
        if d is None:
            return f"raw instruction in {obj}, which portwise did not scan or found no site in"
        pc = int(where.rsplit(" ", 1)[1], 16)
        sites = {f"{pc - 2:#x}", f"{pc - 4:#x}"}  # syscall is 2 bytes, svc #0 is 4
        said = [
            m.group(0)
            for problem in PROBLEMS.get(path, [])
            for m in re.finditer(r"(0x[0-9a-f]+) (\S+) \(([^()]*(?:\([^()]*\))?[^()]*)\)", problem)
            if m.group(1) in sites
        ]
        if said:
            return f"raw instruction in {obj}, counted unresolved by portwise: {said[0]}"
        return (
            f"raw instruction in {obj} at {pc - 2:#x}: not among the unresolved points portwise"
            f" lists ({d.unresolved} in all; the problem text shows the first few)"
        )
    if kind == "loader":
        return "ld.so's own call (dlopen, lazy binding): glibc's loader is not scanned"
    if kind == "process-start":
        return (
            "ld.so before main: glibc's loader is not scanned and the libc model's <process>"
            " entry does not name it"
        )
    if kind == "libc-only":
        return (
            "libc's own code with no caller frame: its start-up, exit or thread-start path, or"
            " a caller strace could not unwind (JIT or frame-pointer-less code); libc paths"
            " outside the libc model"
        )
    if kind == "vdso":
        return "vDSO function falling back to the system call"
    return NO_STACK.get(name, "no stack: see the binary's unresolved points")


# ---------------------------------------------------------------- programs


def prepare(work: Path) -> None:
    (work / "data.txt").write_text(
        "".join(f"{(i * 7919) % 10007} line {i}\n" for i in range(80_000))
    )
    tree = work / "tree"
    for i in range(5):
        (tree / f"d{i}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i}" / "f.txt").write_text("x" * 1000 * i)
    (work / "a.js").write_text("import {b} from './b.js'; console.log(b(2));\n")
    (work / "b.js").write_text("export function b(x) { return x * 2 }\n")
    (work / "x.py").write_text("import os\nx = 1\nprint(os.getcwd())\n")
    shutil.copy(work / "data.txt", work / "copy-src.txt")


def ruff_static() -> str | None:
    """The static musl ruff binary from ruff's musllinux wheel (pip download, cached)."""
    target = WHEELS / "ruff-musl"
    if target.exists():
        return str(target)
    WHEELS.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "musllinux_1_2_x86_64",
            "--python-version",
            "3.11",
            "ruff",
            "-d",
            str(WHEELS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(WHEELS.glob("ruff-*musllinux*x86_64.whl"))
    if got.returncode or not wheels:
        return None
    with zipfile.ZipFile(wheels[-1]) as z:
        member = next(n for n in z.namelist() if n.endswith("/scripts/ruff"))
        target.write_bytes(z.read(member))
    target.chmod(0o755)
    return str(target)


def programs() -> list[Program]:
    py = "/usr/bin/python3"
    venv_py = str(REPO / ".venv" / "bin" / "python")
    found = [
        Program("ls", "/usr/bin/ls", [["ls", "-la", "/usr/bin"], ["ls", "-lR", "{w}/tree"]]),
        Program("cp", "/usr/bin/cp", [["cp", "data.txt", "c1.txt"], ["cp", "-a", "tree", "t2"]]),
        Program("stat", "/usr/bin/stat", [["stat", "data.txt", "/usr/bin"], ["stat", "-f", "/"]]),
        Program(
            "sort",
            "/usr/bin/sort",
            [["sort", "--parallel=2", "-S", "1M", "-o", "s.txt", "data.txt"]],
        ),
        Program(
            "xz",
            "/usr/bin/xz",
            [["xz", "-T2", "-k", "-f", "data.txt"], ["xz", "-d", "-k", "-f", "data.txt.xz"]],
        ),
        Program(
            "tar",
            "/usr/bin/tar",
            [["tar", "cf", "t.tar", "tree"], ["tar", "xf", "t.tar", "-C", "{w}/tree/d1"]],
        ),
        Program(
            "gzip",
            "/usr/bin/gzip",
            [["gzip", "-k", "-f", "data.txt"], ["gzip", "-d", "-f", "-k", "data.txt.gz"]],
        ),
        Program(
            "dash",
            "/usr/bin/dash",
            [["dash", "-c", "[ -x /bin/ls ] && echo ok; cd tree; echo $(pwd)"]],
        ),
        Program(
            "python3",
            py,
            [
                [
                    py,
                    "-c",
                    "import os, json, threading, subprocess, ssl, hashlib, tempfile, random;"
                    "t=threading.Thread(target=lambda: os.listdir('.')); t.start(); t.join();"
                    "subprocess.run(['true']); tempfile.mkstemp(dir='.'); os.urandom(8);"
                    "print(json.dumps(os.stat('data.txt').st_size))",
                ]
            ],
        ),
        Program(
            "python3+wheels",
            os.path.realpath(venv_py),
            [
                [
                    venv_py,
                    "-c",
                    "import pydantic_core, yaml, zstandard, capstone, lief;"
                    "zstandard.ZstdCompressor().compress(b'x'*1000); yaml.safe_load('a: 1');"
                    "capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64);"
                    "lief.parse('/usr/bin/true')",
                ]
            ],
        ),
    ]
    for label, binary, runs in (
        (
            "node",
            "/usr/bin/node",
            [
                [
                    "node",
                    "-e",
                    "const fs=require('fs'),cp=require('child_process'),c=require('crypto');"
                    "fs.statSync('data.txt');fs.copyFileSync('data.txt','n.txt');"
                    "cp.spawnSync('true');c.randomBytes(8);"
                    "fs.promises.readFile('data.txt').then(()=>console.log('ok'))",
                ]
            ],
        ),
        ("java", "/usr/bin/java", [["java", "-XshowSettings:properties", "-version"]]),
        (
            "git",
            "/usr/bin/git",
            [["git", "init", "-q", "g"], ["git", "-C", "g", "status", "--short"]],
        ),
        (
            "openssl",
            "/usr/bin/openssl",
            [["openssl", "rand", "-hex", "8"], ["openssl", "sha256", "data.txt"]],
        ),
        (
            "perl",
            "/usr/bin/perl",
            [
                [
                    "perl",
                    "-e",
                    "opendir(D,'.');@f=readdir(D);stat('data.txt');if(fork()==0){exit 0}wait;"
                    "open(F,'>p.txt');print F 1;close F;rename('p.txt','q.txt')",
                ]
            ],
        ),
        ("ssh", "/usr/bin/ssh", [["ssh", "-V"]]),
        (
            "kubectl (Go)",
            "/usr/lib/google-cloud-sdk/bin/kubectl",
            [["/usr/lib/google-cloud-sdk/bin/kubectl", "version", "--client"]],
        ),
        ("terraform (Go)", "/usr/local/bin/terraform", [["/usr/local/bin/terraform", "version"]]),
    ):
        if Path(binary).exists():
            found.append(Program(label, os.path.realpath(binary), runs))
    if shutil.which("curl"):
        found.append(
            Program(
                "curl",
                "/usr/bin/curl",
                [
                    ["curl", "-s", "-o", "o.txt", "file://{w}/data.txt"],
                    ["curl", "-s", "-m", "2", "http://127.0.0.1:9/"],
                ],
            )
        )
    if shutil.which("wget"):
        found.append(
            Program(
                "wget",
                "/usr/bin/wget",
                [["wget", "-q", "-T", "2", "-t", "1", "http://127.0.0.1:9/"]],
            )
        )
    if shutil.which("busybox"):
        bb = os.path.realpath(shutil.which("busybox") or "")
        found.append(
            Program(
                "busybox",
                bb,
                [
                    ["busybox", "ls", "-l", "/usr/bin"],
                    ["busybox", "cp", "data.txt", "bb.txt"],
                    ["busybox", "sh", "-c", "echo $(pwd)"],
                ],
            )
        )
    manifest_path = FIXTURES / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name in (
        "musl-static",
        "musl-static-stripped",
        "glibc-static",
        "go-amd64",
        "go-amd64-stripped",
    ):
        if name in manifest:
            path = manifest[name]["path"]
            found.append(Program(name, path, [[path, "{w}"]]))
    if "esbuild-amd64-old" in manifest:
        path = manifest["esbuild-amd64-old"]["path"]
        found.append(
            Program(
                "esbuild 0.14 (Go)",
                path,
                [[path, "--version"], [path, "a.js", "--bundle", "--outfile=old.js"]],
            )
        )
    if "esbuild-amd64" in manifest:
        path = manifest["esbuild-amd64"]["path"]
        found.append(
            Program(
                "esbuild",
                path,
                [[path, "--version"], [path, "a.js", "--bundle", "--minify", "--outfile=out.js"]],
            )
        )
    ruff = ruff_static()
    if ruff:
        found.append(
            Program(
                "ruff (static musl)",
                ruff,
                [
                    [ruff, "check", "--no-cache", "x.py"],
                    [ruff, "format", "--no-cache", "--check", "x.py"],
                ],
            )
        )
    venv_ruff = REPO / ".venv" / "bin" / "ruff"
    if venv_ruff.exists():
        found.append(
            Program(
                "ruff (manylinux)",
                str(venv_ruff),
                [[str(venv_ruff), "check", "--no-cache", "x.py"]],
            )
        )
    return found


# ---------------------------------------------------------------- report


@dataclass
class Row:
    label: str
    truth: set[str]
    found: set[str]
    unresolved: int
    start: set[str]  # missed calls issued only at process start (listed apart)
    misses: dict[str, list[tuple[str, str, int]]]  # name -> [(kind, where, events)]
    binaries: dict[str, ElfBinary]
    undecoded: int


def judge(program: Program, trace: Trace, libc: list[Libc]) -> Row:
    image = os.path.realpath(program.binary)
    mine = [e for e in trace.events if trace.image(e.pid, e.seq) == image]
    pids = {e.pid for e in mine}
    paths = {image}
    paths |= {p for pid, seq, p in trace.opened if pid in pids and trace.image(pid, seq) == image}
    binaries: dict[str, ElfBinary] = {}
    for path in sorted(paths):
        b = binary_of(path)
        if b is not None:
            binaries[path] = b
            if b.interpreter:
                interp = os.path.realpath(b.interpreter)
                if interp not in binaries and (ib := binary_of(interp)) is not None:
                    binaries[interp] = ib
    found = {need.name for need in syscall_union(list(binaries.values()), libc)}
    truth = {e.name for e in mine if e.name != "???"}
    undecoded = sum(1 for e in mine if e.name == "???")
    unresolved = sum(b.direct_syscalls.unresolved for b in binaries.values() if b.direct_syscalls)
    misses: dict[str, list[tuple[str, str, int]]] = {}
    start: set[str] = set()
    for name in sorted(truth - found):
        where = Counter(attribution(e) for e in mine if e.name == name)
        misses[name] = [(k, w, n) for (k, w), n in where.most_common()]
        if all(k == "process-start" for k, _ in where):
            start.add(name)
    return Row(program.label, truth, found, unresolved, start, misses, binaries, undecoded)


def scores(truth: set[str], found: set[str]) -> tuple[float, float, float]:
    hit = len(truth & found)
    precision = hit / len(found) if found else 0.0
    recall = hit / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def report(rows: list[Row], libc: list[Libc]) -> Iterator[str]:
    version = libc[0].version
    process = process_start_calls(version)
    yield "strace truth is a LOWER BOUND: only the paths these invocations exercised; extras may"
    yield f"be real paths not taken. B-Side reports F1 {B_SIDE_F1} for comparison."
    yield f"glibc {version}; the libc model's <process> entry names: {sorted(process)}"
    yield (
        "notable = a call some shipped default seccomp profile denies or allows only under"
        " argument conditions, or one newer than Linux 3.0: the calls that can decide a verdict"
    )
    yield ""
    yield (
        f"{'program':<20}{'objs':>5}{'strace':>7}{'portw':>6}{'missed':>7}{'start':>6}"
        f"{'extra':>6}{'unres':>6}{'prec':>6}{'recall':>7}{'F1':>6}{'recall*':>8}{'F1*':>6}"
        f"{'notable':>8}{'missed':>7}{'recall':>7}"
    )
    totals = Counter[str]()
    sums = [0.0] * 6
    for r in rows:
        p, rc, f1 = scores(r.truth, r.found)
        _, rc2, f12 = scores(r.truth - r.start, r.found)
        key = {n for n in r.truth if notable(n)}
        _, rc3, _ = scores(key, r.found)
        missed = r.truth - r.found
        extra = r.found - r.truth
        yield (
            f"{r.label:<20}{len(r.binaries):>5}{len(r.truth):>7}{len(r.found):>6}"
            f"{len(missed):>7}{len(r.start):>6}{len(extra):>6}{r.unresolved:>6}{p:>6.2f}"
            f"{rc:>7.2f}{f1:>6.2f}{rc2:>8.2f}{f12:>6.2f}{len(key):>8}{len(key - r.found):>7}"
            f"{rc3:>7.2f}"
        )
        totals.update(
            truth=len(r.truth),
            found=len(r.found),
            missed=len(missed),
            start=len(r.start),
            extra=len(extra),
            unresolved=r.unresolved,
            key=len(key),
            keymissed=len(key - r.found),
        )
        for i, v in enumerate((p, rc, f1, rc2, f12, rc3)):
            sums[i] += v
    n = len(rows) or 1
    mean = [v / n for v in sums]
    yield (
        f"{'total (means)':<20}{'':>5}{totals['truth']:>7}{totals['found']:>6}"
        f"{totals['missed']:>7}{totals['start']:>6}{totals['extra']:>6}"
        f"{totals['unresolved']:>6}{mean[0]:>6.2f}{mean[1]:>7.2f}{mean[2]:>6.2f}"
        f"{mean[3]:>8.2f}{mean[4]:>6.2f}{totals['key']:>8}{totals['keymissed']:>7}"
        f"{mean[5]:>7.2f}"
    )
    yield (
        "start: missed calls issued only by the loader (ld.so frames alone on the stack:"
        " before main); recall*/F1*: without them."
    )
    undecoded = {r.label: r.undecoded for r in rows if r.undecoded}
    if undecoded:
        yield f"events strace could not name ('???', left out of the truth): {undecoded}"
    yield ""
    yield "== notable misses (every call path, explained)"
    for r in rows:
        for name, wheres in r.misses.items():
            if not notable(name):
                continue
            denied = denied_by(name)
            yield (
                f"{r.label}: {name} (Linux {table.introduced(name, 'x86-64') or '?'}; denied or"
                f" conditional in {len(denied)} of {len(seccomp.profiles())} profiles)"
            )
            for kind, where, count in wheres:
                yield f"    {count:>4}x {kind:<13} {where}"
                yield f"          -> {explain(name, kind, where, r.binaries)}"
    yield ""
    yield "== other misses (allowed by every shipped profile, in every kernel since 3.0): main path"
    for r in rows:
        for name, wheres in r.misses.items():
            if notable(name):
                continue
            kind, where, count = wheres[0]
            more = f" (+{len(wheres) - 1} paths)" if len(wheres) > 1 else ""
            tag = " [start]" if name in r.start else ""
            in_process = " [in <process>]" if name in process else ""
            yield (
                f"{r.label}: {name}{tag}{in_process} {count}x {kind} {where}{more}"
                f" -> {explain(name, kind, where, r.binaries)}"
            )


def main() -> int:
    wanted = set(sys.argv[1:])
    libc = machine_glibc()
    rows = []
    with tempfile.TemporaryDirectory(prefix="portwise-soundness-") as tmp:
        work = Path(tmp)
        prepare(work)
        for program in programs():
            if wanted and program.label not in wanted:
                continue
            if not Path(program.binary).exists():
                print(f"skipped {program.label}: {program.binary} missing")
                continue
            trace = run_traced(program, work)
            row = judge(program, trace, libc)
            rows.append(row)
            print(
                f"traced {program.label}: {len(row.truth)} calls, {len(row.binaries)} objects",
                file=sys.stderr,
            )
    for line in report(rows, libc):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
