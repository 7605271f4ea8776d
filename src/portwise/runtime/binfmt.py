"""Foreign architectures: this kernel runs them only through a binfmt_misc handler (qemu-user).

Before a foreign image runs, the handler for its machine is looked up in /proc/sys/fs/binfmt_misc.
In a container it must be enabled and carry the F flag: the kernel then opened the interpreter
when the handler was registered, so it need not exist inside the image. When no handler is
there and portwise may change this machine (root, and no --no-binfmt-setup), it mounts
binfmt_misc, enables a disabled handler, or registers the one qemu-user-static ships for
binfmt-support (`update-binfmts --enable qemu-<arch>`), and says what it changed; otherwise the
run is NOT RUN with the reason and the commands that would make it run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from portwise.host.files import HostFiles
from portwise.host.security import BINFMT_DIR, read_binfmt
from portwise.knowledge.architectures import qemu_handler, serves
from portwise.model.host import BinfmtHandler

# binfmt-support's format files; Debian's qemu-user-static installs one per emulator, with
# `fix_binary yes` (the F flag)
FORMATS_DIR = Path("/usr/share/binfmts")
INSTALL = "apt-get install qemu-user-static binfmt-support"


@dataclass(frozen=True)
class Readiness:
    machine: str
    name: str  # the handler portwise looks for: qemu-aarch64, qemu-arm, ...
    handler: BinfmtHandler | None = None  # the usable handler, when ready
    changes: tuple[str, ...] = ()  # what portwise changed on this machine to get there
    why: str | None = None  # why the image cannot run here, when not ready
    fix: str | None = None  # the commands that would make it run

    @property
    def ready(self) -> bool:
        return self.handler is not None


def handlers() -> list[BinfmtHandler] | None:
    """This machine's handlers; None when binfmt_misc is not mounted."""
    return read_binfmt(HostFiles(Path("/"))).value


def prepare(machine: str, *, setup: bool) -> Readiness:
    """A usable handler for `machine`, registering one if allowed; else why not and the fix."""
    name = qemu_handler(machine)
    mount = f"mount -t binfmt_misc binfmt_misc {BINFMT_DIR}"
    enable = f"update-binfmts --enable {name}"
    refusal = (
        "--no-binfmt-setup forbids changing this machine"
        if not setup
        else None
        if os.geteuid() == 0
        else "changing this machine needs root"
    )
    changes: list[str] = []
    present = handlers()
    if present is None:
        if refusal is not None:
            return Readiness(
                machine,
                name,
                why=f"binfmt_misc is not mounted at {BINFMT_DIR}, and {refusal}",
                fix=f"{mount} && {_register_fix(name)}",
            )
        failed = _run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR])
        if failed:
            return Readiness(machine, name, why=f"cannot mount binfmt_misc: {failed}", fix=mount)
        changes.append(f"mounted binfmt_misc at {BINFMT_DIR} (undo: umount {BINFMT_DIR})")
        present = handlers() or []
    found = [h for h in present if serves(machine, h.name, h.interpreter)]
    if any(h.enabled for h in found):
        return _usable(machine, name, next(h for h in found if h.enabled), changes)
    if found:  # registered but disabled: switch it on
        entry = Path(BINFMT_DIR) / found[0].name
        if refusal is not None:
            return Readiness(
                machine,
                name,
                why=f"the binfmt_misc handler {found[0].name} is disabled, and {refusal}",
                fix=f"echo 1 > {entry}",
            )
        try:
            entry.write_text("1")
        except OSError as exc:
            return Readiness(
                machine, name, why=f"cannot enable {entry}: {exc}", fix=f"echo 1 > {entry}"
            )
        changes.append(
            f"enabled the disabled binfmt_misc handler {found[0].name} (undo: echo 0 > {entry})"
        )
        return _after(machine, name, changes)
    if not (FORMATS_DIR / name).exists() or shutil.which("update-binfmts") is None:
        return Readiness(
            machine,
            name,
            changes=tuple(changes),
            why=f"no binfmt_misc handler runs {machine} code here, and no qemu-user emulator for "
            f"it is installed ({FORMATS_DIR / name} is missing)",
            fix=f"{INSTALL} && {enable}",
        )
    if refusal is not None:
        return Readiness(
            machine,
            name,
            changes=tuple(changes),
            why=f"no binfmt_misc handler runs {machine} code here, and {refusal}",
            fix=enable,
        )
    failed = _run(["update-binfmts", "--enable", name])
    if failed:
        why = f"{enable} failed: {failed}"
        return Readiness(machine, name, changes=tuple(changes), why=why, fix=enable)
    changes.append(
        f"registered the binfmt_misc handler {name} with {enable} "
        f"(undo: update-binfmts --disable {name})"
    )
    return _after(machine, name, changes)


def _after(machine: str, name: str, changes: list[str]) -> Readiness:
    """Read the handlers again after a change: the kernel's word, not the tool's."""
    for h in handlers() or []:
        if h.enabled and serves(machine, h.name, h.interpreter):
            return _usable(machine, name, h, changes)
    return Readiness(
        machine,
        name,
        changes=tuple(changes),
        why=f"after {'; '.join(changes)}, no enabled handler {name} is registered",
        fix=f"update-binfmts --enable {name}",
    )


def _usable(machine: str, name: str, h: BinfmtHandler, changes: list[str]) -> Readiness:
    if "F" in h.flags:
        return Readiness(machine, name, handler=h, changes=tuple(changes))
    return Readiness(
        machine,
        name,
        changes=tuple(changes),
        why=f"the binfmt_misc handler {h.name} has no F flag (flags {h.flags!r}): the kernel looks "
        f"for its interpreter {h.interpreter} inside the container, where it does not exist",
        fix=f"re-register {h.name} with the F flag (Debian's qemu-user-static does: "
        f"update-binfmts --disable {h.name} && {_register_fix(name)})",
    )


def _register_fix(name: str) -> str:
    if (FORMATS_DIR / name).exists():
        return f"update-binfmts --enable {name}"
    return f"{INSTALL} && update-binfmts --enable {name}"


def _run(argv: list[str]) -> str | None:
    """None when the command succeeded, else what it said."""
    tool = shutil.which(argv[0])
    if tool is None:
        return f"{argv[0]} is not installed"
    done = subprocess.run([tool, *argv[1:]], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    return (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
