"""System calls the kernel refuses without a capability (privileged.json, from the man pages).

A seccomp denial of such a call changes nothing for a container that lacks the capability:
the kernel would answer EPERM anyway, on every host. The seccomp rule uses this to tell a
privileged operation refused by design from a call an old profile breaks.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files


@cache
def _calls() -> dict[str, dict[str, str]]:
    data = json.loads(files(__name__).joinpath("privileged.json").read_text(encoding="utf-8"))
    calls: dict[str, dict[str, str]] = data["calls"]
    for name, entry in calls.items():
        if not entry["source"].startswith("https://") or not entry["capability"].startswith("CAP_"):
            raise ValueError(f"privileged.json: {name}: needs a capability and an https source")
    return calls


def required_capability(syscall: str) -> str | None:
    """The capability the kernel requires for `syscall`, or None when it requires none."""
    entry = _calls().get(syscall)
    return entry["capability"] if entry else None


def source(syscall: str) -> str | None:
    entry = _calls().get(syscall)
    return entry["source"] if entry else None
