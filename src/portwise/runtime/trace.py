"""Read `strace -f -Y` output of a runtime and keep the failed calls of the probe's programs.

The trace covers the OCI runtime too; its calls are noise. Container pids live in their own
namespace, so children cannot be followed by the pids clone returns; instead, from the execve
of the probe's program on, every line not issued by the runtime itself (runc, crun and their
threads, by name) belongs to the probe, whatever its threads call themselves: a JVM renames
them ("VM Thread", "GC Thread#0"). Denials (EPERM, ENOSYS, EACCES) first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_LINE = re.compile(r"^(\d+)<([^>]*)>\s+(?:<\.\.\. )?([a-z0-9_]+)(.*)$")
_EXEC = re.compile(r'^\("([^"]+)"')
_FAILED = re.compile(r"= -1 (E[A-Z0-9]+)")
DENIALS = ("EPERM", "ENOSYS", "EACCES")
RUNTIMES = ("runc", "crun", "conmon", "podman")


def probe_lines(text: str, program: str) -> Iterator[tuple[str, str, str]]:
    """(call, rest of the line, executed path or "") for each line of the probe's processes:
    from the successful execve of `program` on, every line the runtime itself did not issue."""
    started = False
    pending: dict[int, str] = {}
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, comm, call, rest = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        executed = ""
        if call == "execve":
            path = _EXEC.match(rest)
            if path:
                pending[pid] = path.group(1)
            if rest.rstrip().endswith("= 0") and pid in pending:
                executed = pending.pop(pid)
                started = started or executed == program
        if started and not comm.startswith(RUNTIMES):
            yield call, rest, executed


def failed_calls(text: str, program: str) -> list[str]:
    """`clone3 EPERM`-style entries, first occurrence order, for the probe's processes only."""
    found: dict[str, None] = {}
    for call, rest, _ in probe_lines(text, program):
        failed = _FAILED.search(rest) if call != "execve" else None
        if failed:
            found.setdefault(f"{call} {failed.group(1)}", None)
    return sorted(found, key=lambda entry: entry.split()[-1] not in DENIALS)
