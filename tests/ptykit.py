"""Run portwise with its output on a real pseudo-terminal, as a user's terminal would see it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading


def on_a_terminal(
    args: list[str], *, stdout_too: bool = True, term: str = "xterm-256color", columns: int = 100
) -> tuple[int, bytes, bytes]:
    """(exit code, stdout when it was piped, everything drawn on the terminal). stderr always
    goes to the terminal; stdout too unless stdout_too is False (then it is captured)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "portwise", *args],
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "TERM": term, "COLUMNS": str(columns)},
    )
    os.close(slave)
    drawn = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=60)
    os.close(master)
    return proc.returncode, stdout or b"", bytes(drawn)
