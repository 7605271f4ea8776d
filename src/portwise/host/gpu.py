"""NVIDIA driver version and GPU compute capabilities: what CUDA images need from the host."""

from __future__ import annotations

import re
import shutil
import subprocess

from portwise.host.files import HostFiles, Unreadable
from portwise.model.host import Fact, GpuFacts

DRIVER = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)")
VERSION_FILE = "/proc/driver/nvidia/version"


def parse_driver_version(text: str) -> str | None:
    """From /proc/driver/nvidia/version's "NVRM version: ... Kernel Module  535.104.05 ..."."""
    match = DRIVER.search(text)
    return match.group(1) if match else None


def read_gpu(files: HostFiles) -> GpuFacts:
    try:
        version = parse_driver_version(files.read_text(VERSION_FILE))
        driver: Fact[str] = (
            Fact.of(version, f"file {VERSION_FILE}")
            if version
            else Fact.missing(f"{VERSION_FILE} names no driver version")
        )
    except Unreadable:
        driver = Fact.missing("no NVIDIA driver loaded (no /proc/driver/nvidia/version)")
    return GpuFacts(nvidia_driver=driver, compute_capability=_compute(files, driver.value))


def _compute(files: HostFiles, driver: str | None) -> Fact[list[str]]:
    if driver is None:
        return Fact.missing("no NVIDIA driver")
    smi = shutil.which("nvidia-smi")
    if not files.is_live or smi is None:
        return Fact.missing("nvidia-smi is not available here")
    command = "nvidia-smi --query-gpu=compute_cap --format=csv,noheader"
    try:
        done = subprocess.run(
            command.split(), capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Fact.missing(f"{command} failed: {exc}")
    return Fact.of([line.strip() for line in done.stdout.splitlines() if line.strip()], command)
