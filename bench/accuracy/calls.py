"""Every syscall a probe's processes issue, from `strace -f -Y` of the runtime running it.

Which lines belong to the probe is portwise.runtime.trace's business (from the execve of the
probe's program on, every line the runtime itself did not issue, whatever a thread calls
itself). Every call is kept here, failed or not: that is what the probe exercises.
"""

from __future__ import annotations

import re

from portwise.runtime.trace import probe_lines

_OPENED = re.compile(r'^\((?:AT_FDCWD|\d+(?:<[^>]*>)?), "([^"]+)", [^)]*\) = \d+')


def traced(text: str, program: str) -> tuple[set[str], set[str], set[str]]:
    """(calls, programs executed, files opened) of the probe's processes, from the execve of
    `program` on. Opened files (shared libraries, dlopen'd modules) and executed programs are
    paths as the processes named them, successful calls only: resolve them through the
    image's links."""
    calls: set[str] = set()
    executed: set[str] = set()
    opened: set[str] = set()
    for call, rest, path in probe_lines(text, program):
        calls.add(call)
        if path:
            executed.add(path)
        elif call in ("openat", "open"):
            found = _OPENED.match(rest)
            if found:
                opened.add(found.group(1))
    return calls, executed, opened
