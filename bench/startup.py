"""Start-up time of the command line against the bare interpreter, side by side in one run.

    .venv/bin/python bench/startup.py [RUNS]

Prints, for `python -c pass`, `portwise --version`, `portwise --help` and `portwise hosts`
(the lightest command that does real work), the median and best wall-clock of RUNS runs
(default 20) and the ratio to the bare interpreter. Target (issue #13): --version and --help
within 10x of `python -c pass`. Every run is a fresh process (`python -m portwise`, with this
checkout's src first on the path), as a shell or CI script would start it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "portwise --version": [sys.executable, "-m", "portwise", "--version"],
    "portwise --help": [sys.executable, "-m", "portwise", "--help"],
    "portwise check --help": [sys.executable, "-m", "portwise", "check", "--help"],
    "portwise hosts": [sys.executable, "-m", "portwise", "hosts"],
}


def timed(command: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run(command, env=env, capture_output=True, check=True)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    results = {name: timed(command, runs) for name, command in COMMANDS.items()}
    bare = statistics.median(results["python -c pass"])
    print(f"{'command':24} {'median':>9} {'best':>9} {'x python':>9}   ({runs} runs each)")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:24} {median * 1000:7.1f}ms {min(times) * 1000:7.1f}ms {median / bare:8.1f}x")


if __name__ == "__main__":
    main()
