"""Read `strace -f -Y` output of a runtime and keep the failed calls of the probe's programs.

The trace covers the OCI runtime too; its calls are noise. Container pids live in their own
namespace, so children cannot be followed by the pids clone returns; instead, from the execve
of the probe's program on, every program executed successfully names the processes (and their
threads, which share the name) that belong to the probe. Denials (EPERM, ENOSYS, EACCES) first.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"^(\d+)<([^>]*)>\s+(?:<\.\.\. )?([a-z0-9_]+)(.*)$")
_EXEC = re.compile(r'^\("([^"]+)"')
_FAILED = re.compile(r"= -1 (E[A-Z0-9]+)")
DENIALS = ("EPERM", "ENOSYS", "EACCES")


def failed_calls(text: str, program: str) -> list[str]:
    """`clone3 EPERM`-style entries, first occurrence order, for the probe's processes only."""
    started = False
    names: set[str] = set()
    pending: dict[int, str] = {}
    found: dict[str, None] = {}
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
                executed = pending.pop(pid)
                started = started or executed == program
                if started:
                    names.add(executed.rsplit("/", 1)[-1][:15])  # the kernel's comm length
            continue
        if not started or comm not in names:
            continue
        failed = _FAILED.search(rest)
        if failed:
            found.setdefault(f"{call} {failed.group(1)}", None)
    return sorted(found, key=lambda entry: entry.split()[-1] not in DENIALS)
