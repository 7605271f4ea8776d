"""Every syscall a probe's processes issue, from `strace -f -Y` of the runtime running it.

From the execve of the probe's program on, every line not issued by the runtime itself (runc,
crun and their threads) belongs to the probe, whatever the thread calls itself: a JVM renames
its threads ("VM Thread", "GC Thread#0"), so matching by the executed programs' names, as
portwise.runtime.trace.failed_calls does, would miss them. Every call is kept, failed or not:
that is what the probe exercises.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"^(\d+)<([^>]*)>\s+(?:<\.\.\. )?([a-z0-9_]+)(.*)$")
_EXEC = re.compile(r'^\("([^"]+)"')
RUNTIMES = ("runc", "crun")


_OPENED = re.compile(r'^\((?:AT_FDCWD|\d+(?:<[^>]*>)?), "([^"]+)", [^)]*\) = \d+')


def traced(text: str, program: str) -> tuple[set[str], set[str], set[str]]:
    """(calls, programs executed, files opened) of the probe's processes, from the execve of
    `program` on. Opened files (shared libraries, dlopen'd modules) and executed programs are
    paths as the processes named them, successful calls only: resolve them through the
    image's links."""
    started = False
    pending: dict[int, str] = {}
    calls: set[str] = set()
    executed: set[str] = set()
    opened: set[str] = set()
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, comm, call, rest = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        if call == "execve":
            path = _EXEC.match(rest)
            if path:
                pending[pid] = path.group(1)
            if rest.rstrip().endswith("= 0") and pid in pending:
                done = pending.pop(pid)
                started = started or done == program
                if started:
                    executed.add(done)
        if not started or comm.startswith(RUNTIMES):
            continue
        calls.add(call)
        if call in ("openat", "open"):
            found = _OPENED.match(rest)
            if found:
                opened.add(found.group(1))
    return calls, executed, opened
