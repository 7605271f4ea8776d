"""Failed calls read off a real `strace -f -Y` log: a thread that renames itself (as the JVM's
"VM Thread" and "GC Thread#0" do) still belongs to the probe."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portwise.runtime.trace import failed_calls

RENAMED = """
import ctypes, os, threading
def work():
    ctypes.CDLL(None).prctl(15, b"VM Thread", 0, 0, 0)  # PR_SET_NAME
    try:
        os.rmdir("/nonexistent-portwise-dir")
    except OSError:
        pass
t = threading.Thread(target=work)
t.start()
t.join()
"""


def test_a_renamed_thread_keeps_its_failed_calls(tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        pytest.fail("strace is missing: scripts/setup.sh installs it")
    log = tmp_path / "trace"
    program = str(Path(sys.executable).resolve())
    subprocess.run(
        ["strace", "-f", "-Y", "-qq", "-s", "0", "-o", str(log), program, "-c", RENAMED],
        check=True,
    )
    text = log.read_text()
    assert "<VM Thread>" in text  # the thread really renamed itself
    assert "rmdir ENOENT" in failed_calls(text, program)
    assert failed_calls(text, "/not/the/program") == []  # nothing before the program starts
