"""Run one command of an untrusted image on a real engine, under an emulation, and clean up.

Two engines: an OCI runtime (runc or crun) on a bundle unpacked once with umoci and reused for
every probe (the fast path), and podman with a private store. Both run with no network, no new
privileges, every capability dropped, a read-only root, and pids, memory and time limits; every
container is deleted after its run, and the bundle or store when the engine is closed, also
when the run is interrupted.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from portwise.errors import ToolError, UsageError
from portwise.model.image import ImageProfile
from portwise.runtime.emulate import QEMU_X86_64, Emulation

TAIL = 2000
PIDS_LIMIT = 256
MEMORY_LIMIT = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Raw:
    exit_code: int | None  # None: timed out
    stdout: str
    stderr: str
    seconds: float


class Engine(Protocol):
    name: str

    def run(self, argv: Sequence[str], timeout: float, wrap: Sequence[str] = ()) -> Raw:
        """Run argv in a fresh container; `wrap` prefixes the engine command (strace)."""
        ...

    def close(self) -> None: ...


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"{name} is not installed", hint="bash scripts/setup.sh installs it")
    return path


def _tail(data: bytes) -> str:
    return data.decode("utf-8", "replace")[-TAIL:]


def _prefix(emulation: Emulation) -> list[str]:
    """The UNAME26 personality is inherited by the runtime and so by the container."""
    return [_tool("setarch"), os.uname().machine, "--uname-2.6"] if emulation.uname26 else []


def _nofile() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def oci_layout(reference: str, work: Path) -> tuple[Path, str]:
    """An OCI layout and tag umoci can unpack: the reference itself, or a skopeo copy of it."""
    if reference.startswith("oci:"):
        path, _, tag = reference[4:].partition(":")
        return Path(path), tag or "latest"
    target = work / "layout"
    done = subprocess.run(
        [_tool("skopeo"), "copy", "-q", reference, f"oci:{target}:image"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"cannot copy {reference} for a run: {_tail(done.stderr).strip()}")
    return target, "image"


QEMU_IN_CONTAINER = "/.portwise/qemu-x86_64"


def _rlimits(emulation: Emulation, nofile: int) -> list[dict[str, Any]]:
    """This machine's open-files limit and a pids bound, replaced by the host's where known."""
    limits = {"RLIMIT_NOFILE": (nofile, nofile), "RLIMIT_NPROC": (4096, 4096)}
    limits.update({name: (soft, hard) for name, soft, hard in emulation.rlimits})
    return [{"type": t, "soft": soft, "hard": hard} for t, (soft, hard) in limits.items()]


def cpu_wrapped(emulation: Emulation, argv: Sequence[str]) -> list[str]:
    """Under a qemu CPU model the probe's program is started by the bind-mounted qemu.

    qemu re-raises the guest's fatal signal on itself; as the container's PID 1 the kernel
    ignores it and qemu hangs, so a shell stays PID 1 and reports 128 + the signal.
    """
    if emulation.cpu_model is None:
        return list(argv)
    return [
        "/bin/sh",
        "-c",
        '"$@"; exit $?',
        "portwise-probe",
        QEMU_IN_CONTAINER,
        "-cpu",
        emulation.cpu_model,
        *argv,
    ]


def qemu_source() -> str:
    return _tool(QEMU_X86_64)


def _config(image: ImageProfile, emulation: Emulation, argv: Sequence[str]) -> dict[str, Any]:
    env = image.config.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    nofile = _nofile()
    linux: dict[str, Any] = {
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "resources": {"pids": {"limit": PIDS_LIMIT}, "memory": {"limit": MEMORY_LIMIT}},
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    }
    if emulation.seccomp is not None:
        linux["seccomp"] = emulation.seccomp
    no_caps: dict[str, list[str]] = {
        k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")
    }
    config: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": cpu_wrapped(emulation, argv),
            "env": env,
            "cwd": image.config.working_dir or "/",
            "capabilities": no_caps,
            "rlimits": _rlimits(emulation, nofile),
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "portwise",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",  # noqa: S108 - inside the container
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/tmp",  # noqa: S108 - a tmpfs inside the container
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", "size=65536k"],
            },
        ],
        "linux": linux,
    }
    if emulation.cpu_model is not None:
        config["mounts"].append(
            {
                "destination": QEMU_IN_CONTAINER,
                "type": "bind",
                "source": qemu_source(),
                "options": ["bind", "ro", "nosuid", "nodev"],
            }
        )
    return config


class BundleEngine:
    """runc or crun on a bundle unpacked once; each probe is a fresh container on it."""

    def __init__(self, runtime: str, image: ImageProfile, emulation: Emulation) -> None:
        self.name = runtime
        self.runtime = _tool(runtime)
        self.image = image
        self.emulation = emulation
        self.work = Path(tempfile.mkdtemp(prefix="portwise-bundle-"))
        self.root = self.work / "state"  # the runtime's state dir: ours alone, removed at close
        self.count = 0
        try:
            layout, tag = oci_layout(image.reference, self.work)
            self.bundle = self.work / "bundle"
            done = subprocess.run(
                [_tool("umoci"), "unpack", "--image", f"{layout}:{tag}", str(self.bundle)],
                capture_output=True,
                check=False,
            )
            if done.returncode != 0:
                raise UsageError(f"umoci could not unpack {image.reference}: {_tail(done.stderr)}")
        except BaseException:
            self.close()
            raise

    def run(self, argv: Sequence[str], timeout: float, wrap: Sequence[str] = ()) -> Raw:
        self.count += 1
        cid = f"portwise-{os.getpid()}-{self.count}"
        config = _config(self.image, self.emulation, argv)
        (self.bundle / "config.json").write_text(json.dumps(config))
        base = [self.runtime, "--root", str(self.root)]
        return _execute(
            [*wrap, *_prefix(self.emulation), *base, "run", "--bundle", str(self.bundle), cid],
            timeout,
            [*base, "delete", "--force", cid],
        )

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


class PodmanEngine:
    """podman with a private store (removed at close), so runs never touch the user's images."""

    def __init__(self, image: ImageProfile, emulation: Emulation, runtime: str | None) -> None:
        self.name = "podman"
        self.podman = _tool("podman")
        self.image = image
        self.emulation = emulation
        self.runtime = runtime
        self.work = Path(tempfile.mkdtemp(prefix="portwise-podman-"))
        # podman refuses a run root of 50 characters or more: a short one under /tmp then
        self.runroot = self.work / "run"
        if len(str(self.runroot)) >= 50:
            self.runroot = Path(tempfile.mkdtemp(prefix="portwise-run-", dir="/tmp"))
        self.base = [
            self.podman,
            "--root",
            str(self.work / "root"),
            "--runroot",
            str(self.runroot),
            "--events-backend",
            "file",
            "--tmpdir",
            str(self.work / "tmp"),
        ]
        self.count = 0
        self.seccomp = self.work / "seccomp.json"
        if emulation.seccomp is not None:
            self.seccomp.write_text(json.dumps(emulation.seccomp))
        try:
            done = subprocess.run(
                [*self.base, "pull", "-q", image.reference],
                capture_output=True,
                check=False,
            )
            if done.returncode != 0:
                raise UsageError(f"podman could not load {image.reference}: {_tail(done.stderr)}")
            self.image_id = done.stdout.decode().strip().splitlines()[-1]
        except BaseException:
            self.close()
            raise

    def run(self, argv: Sequence[str], timeout: float, wrap: Sequence[str] = ()) -> Raw:
        self.count += 1
        name = f"portwise-{os.getpid()}-{self.count}"
        nofile = _nofile()
        options = [
            "--rm",
            "--name",
            name,
            "--network=none",
            "--cap-drop=all",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            f"seccomp={self.seccomp if self.emulation.seccomp is not None else 'unconfined'}",
            "--read-only",
            f"--pids-limit={PIDS_LIMIT}",
            f"--memory={MEMORY_LIMIT}",
            *(
                f"--ulimit={name.removeprefix('RLIMIT_').lower()}={r['soft']}:{r['hard']}"
                for r in _rlimits(self.emulation, nofile)
                for name in [str(r["type"])]
            ),
            "--user=0:0",
        ]
        if self.runtime:
            options.append(f"--runtime={self.runtime}")
        if self.emulation.foreign:
            options.append(f"--arch={self.image.platform.architecture}")
        if self.emulation.cpu_model is not None:
            options.append(f"--volume={qemu_source()}:{QEMU_IN_CONTAINER}:ro")
        return _execute(
            [
                *wrap,
                *_prefix(self.emulation),
                *self.base,
                "run",
                *options,
                self.image_id,
                *cpu_wrapped(self.emulation, argv),
            ],
            timeout,
            [*self.base, "rm", "--force", "--time", "0", name],
        )

    def close(self) -> None:
        subprocess.run(
            [*self.base, "system", "reset", "--force"],
            capture_output=True,
            check=False,
            timeout=120,
        )
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.runroot, ignore_errors=True)


def _execute(command: list[str], timeout: float, cleanup: list[str]) -> Raw:
    """Run a container to its end or the timeout; the cleanup command runs whatever happens."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        )
        return Raw(done.returncode, _tail(done.stdout), _tail(done.stderr), _since(start))
    except subprocess.TimeoutExpired as exc:
        return Raw(None, _tail(exc.stdout or b""), _tail(exc.stderr or b""), _since(start))
    finally:
        subprocess.run(cleanup, capture_output=True, check=False, timeout=60)


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 4)
