"""Caller models change verdicts: a real Go program built here with Debian's Go issues
copy_file_range itself (io.Copy between files). Without knowing Go, ENOSYS from an old kernel
for that call is a risk ("how the caller handles failure is unknown"); with the caller model,
Go's documented fallback (knowledge/callers) makes it fine, and the evidence says why.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hostkit import fact, host_with

from portwise.image.binaries import summarize
from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile
from portwise.rules import kernel

PROGRAM = """package main

import (
\t"fmt"
\t"io"
\t"os"
)

func main() {
\tsrc, _ := os.Open(os.Args[0])
\tdst, _ := os.Create(os.DevNull)
\tn, err := io.Copy(dst, src)
\tfmt.Println(n, err)
}
"""
OLD_KERNEL = "3.10.0-1160.el7.x86_64"  # before getrandom (3.17) and copy_file_range (4.5)


@pytest.fixture(scope="module")
def go_image(tmp_path_factory: pytest.TempPathFactory) -> ImageProfile:
    if shutil.which("go") is None:
        pytest.fail("go is missing: scripts/setup.sh installs golang-go")
    work = tmp_path_factory.mktemp("go")
    (work / "main.go").write_text(PROGRAM)
    (work / "go.mod").write_text("module probe\n\ngo 1.19\n")
    root = work / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text("ID=scratch\n")
    env = {
        "CGO_ENABLED": "0",
        "HOME": str(work),
        "GOCACHE": str(work / "cache"),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(
        ["go", "build", "-o", str(root / "usr/bin/probe"), "."], cwd=work, env=env, check=True
    )
    (profile,) = scan(f"rootfs:{root}", ScanOptions(cache_dir=work / "scan-cache"))
    return profile


def without_callers(image: ImageProfile) -> ImageProfile:
    """The same image summarised as portwise did before caller models."""
    summary = summarize(list(image.binaries), list(image.libc))
    return image.model_copy(update={"binary_summary": summary})


def kernel_subjects(image: ImageProfile, release: str) -> dict[str, str]:
    host = host_with("debian-11", f"kernel-{release}", kernel__release=fact(release))
    found = kernel.judge(kernel.needs(image), kernel.offers(host))
    return {str(f.subject): f.severity for f in found if f.subject}


def test_the_go_runtime_is_recognised_with_its_version(go_image: ImageProfile) -> None:
    assert go_image.platform.architecture == "amd64"  # from the program: there is no libc
    (runtime,) = [r for r in go_image.runtimes if r.component == "go"]
    assert runtime.location == "/usr/bin/probe"
    assert runtime.version is not None and runtime.version.startswith("1.")
    (need,) = [n for n in go_image.binary_summary.syscalls if n.name == "copy_file_range"]
    (source,) = need.sources
    assert source.caller is not None and source.caller.startswith(f"go {runtime.version}")
    assert "EPERM" in source.caller_fallback_errnos and "ENOSYS" in source.caller_fallback_errnos
    assert source.caller_source is not None and source.caller_source.startswith("https://")


def test_go_fallbacks_turn_risks_into_passes_on_an_old_kernel(go_image: ImageProfile) -> None:
    before = kernel_subjects(without_callers(go_image), OLD_KERNEL)
    after = kernel_subjects(go_image, OLD_KERNEL)
    assert before.get("copy_file_range") == "risk"
    assert "copy_file_range" not in after
    handled = kernel.judge(
        kernel.needs(go_image),
        kernel.offers(host_with("debian-11", "old", kernel__release=fact(OLD_KERNEL))),
    )
    noted = [
        e for f in handled if f.id == "kernel.newer-syscalls-handled" for e in f.evidence.image
    ]
    assert any(e.startswith("copy_file_range (Linux 4.5)") and ": ok" in e for e in noted)
