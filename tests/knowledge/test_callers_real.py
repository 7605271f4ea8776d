"""The caller model predicts what real programs of this machine do when one call is denied.

A small launcher (compiled here with gcc) installs a seccomp filter that answers one system
call with one errno and lets everything else through, then runs a real program: Debian's
OpenSSL, CPython, GLib (through PyGObject and the gio tool), Node.js with its bundled libuv,
a Temurin JDK, a Go program built with Debian's go and a Rust program built with rustc. The
model's reaction for the program's runtime and version says whether the program goes on
(fallback, ignored) or fails (error returned to a program that does not catch it, fatal); the
run must agree. Cases whose tool this machine lacks are skipped, not faked.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from portwise.knowledge.callers import reactions
from portwise.knowledge.syscalls import number

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="syscall numbers below are x86-64's"
)

ERRNO = {"EPERM": 1, "ENOSYS": 38}

DENY_C = r"""
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>
/* deny NR ERRNO PROGRAM ARGS...: one call answers -ERRNO, every other call runs */
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    unsigned nr = (unsigned)atoi(argv[1]), err = (unsigned)atoi(argv[2]);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {4, f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("seccomp"); return 99; }
    execvp(argv[3], argv + 3);
    perror("exec");
    return 98;
}
"""

GO_PROGRAM = """package main
import ("crypto/rand"; "fmt"; "io"; "os")
func main() {
	switch os.Args[1] {
	case "rand":
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil { fmt.Println(err); os.Exit(1) }
	case "copy":
		s, _ := os.Open(os.Args[2]); d, _ := os.Create(os.Args[3])
		if _, err := io.Copy(d, s); err != nil { fmt.Println(err); os.Exit(1) }
	}
}
"""

RUST_PROGRAM = """
fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a[1].as_str() {
        "stat" => { std::fs::metadata("/").unwrap(); }
        "copy" => { std::fs::copy(&a[2], &a[3]).unwrap(); }
        "hash" => { let mut m = std::collections::HashMap::new(); m.insert(1, 2); }
        "thread" => { std::thread::spawn(|| 1).join().unwrap(); }
        _ => std::process::exit(2),
    }
}
"""

JAVA_PROGRAM = """
import java.nio.file.*;
import java.nio.file.attribute.*;
public class Probe {
    public static void main(String[] a) throws Exception {
        if (a[0].equals("stat")) Files.readAttributes(Path.of("/"), BasicFileAttributes.class);
        else Files.copy(Path.of(a[1]), Path.of(a[2]), StandardCopyOption.REPLACE_EXISTING);
    }
}
"""

GLIB_SPAWN = """
import sys
from gi.repository import GLib
try:
    GLib.spawn_command_line_sync("true")
except GLib.Error as e:
    print(e.message)
    sys.exit(1)
"""

GLIB_CHILD_WATCH = """
import sys
from gi.repository import GLib
loop = GLib.MainLoop()
pid, *_ = GLib.spawn_async(["/bin/true"], flags=GLib.SpawnFlags.DO_NOT_REAP_CHILD)
seen = []
GLib.child_watch_add(GLib.PRIORITY_DEFAULT, pid, lambda p, s: (seen.append(s), loop.quit()))
GLib.timeout_add_seconds(10, loop.quit)
loop.run()
sys.exit(0 if seen else 1)
"""


@dataclass(frozen=True)
class Tools:
    deny: Path
    work: Path
    build: Callable[[str], Path]


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the seccomp launcher")
    work = tmp_path_factory.mktemp("callers-real")
    (work / "deny.c").write_text(DENY_C)
    subprocess.run([gcc, "-O2", "-o", str(work / "deny"), str(work / "deny.c")], check=True)
    (work / "src.txt").write_text("portwise\n")
    built: dict[str, Path] = {}

    def build(kind: str) -> Path:
        if kind not in built:
            built[kind] = _build(kind, work)
        return built[kind]

    return Tools(work / "deny", work, build)


def _build(kind: str, work: Path) -> Path:
    if kind == "go":
        go = shutil.which("go")
        if go is None:
            pytest.skip("Debian's go is not installed")
        (work / "probe.go").write_text(GO_PROGRAM)
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOCACHE": str(work / "gocache"),
            "GO111MODULE": "off",
            "HOME": str(work),
        }
        subprocess.run(
            [go, "build", "-o", str(work / "goprobe"), str(work / "probe.go")],
            check=True,
            env=env,
            capture_output=True,
            timeout=300,
        )
        return work / "goprobe"
    if kind == "rust":
        rustc = shutil.which("rustc") or shutil.which(str(Path.home() / ".cargo/bin/rustc"))
        if rustc is None:
            pytest.skip("no rustc on this machine")
        (work / "probe.rs").write_text(RUST_PROGRAM)
        subprocess.run(
            [rustc, "-O", "-o", str(work / "rustprobe"), str(work / "probe.rs")],
            check=True,
            capture_output=True,
            timeout=300,
        )
        return work / "rustprobe"
    raise AssertionError(kind)


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def _need(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"no {program} on this machine")
    return found


def _java() -> str:
    java = shutil.which("java")
    candidates = [java] if java else []
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    if not candidates:
        pytest.skip("no JDK on this machine")
    return max(candidates, key=lambda j: int(_java_version(j).split(".")[0]))


def _java_version(java: str) -> str:
    banner = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    return banner.split('"')[1]


def _glibc_tries_clone3() -> bool:
    """glibc 2.34+ on x86-64 tries clone3 in pthread_create (the libc model's entry)."""
    found = os.confstr("CS_GNU_LIBC_VERSION") or ""
    name, _, version = found.partition(" ")
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    return name == "glibc" and parts >= (2, 34)


def _has_gi() -> bool:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import gi"], capture_output=True)
    return probe.returncode == 0


def openssl_rand(t: Tools) -> tuple[list[str], str | None]:
    openssl = _need("openssl")
    return [openssl, "rand", "-hex", "8"], _output([openssl, "version"]).split()[1]


def python(code: str) -> Callable[[Tools], tuple[list[str], str | None]]:
    def make(t: Tools) -> tuple[list[str], str | None]:
        exe = "/usr/bin/python3"
        if not Path(exe).exists():
            pytest.skip("no Debian python3")
        version = _output([exe, "-c", "import platform; print(platform.python_version())"])
        return [
            exe,
            "-c",
            code.replace("SRC", str(t.work / "src.txt")).replace("DST", str(t.work / "py-dst.txt")),
        ], version

    return make


def node(code: str) -> Callable[[Tools], tuple[list[str], str | None]]:
    def make(t: Tools) -> tuple[list[str], str | None]:
        exe = _need("node")
        uv = _output([exe, "-p", "process.versions.uv"])
        return [
            exe,
            "-e",
            code.replace("SRC", str(t.work / "src.txt")).replace(
                "DST", str(t.work / "node-dst.txt")
            ),
        ], uv

    return make


def node_io_uring(t: Tools) -> tuple[list[str], str | None]:
    """Node.js 20.20.2 sets up no ring unless asked (measured: no io_uring_setup without
    UV_USE_IO_URING=1); with it, libuv batches epoll_ctl through the ring."""
    argv, uv = node(
        "require('fs').readFile('SRC', () => {});"
        " require('http').createServer().listen(0, function () { this.close() })"
    )(t)
    return ["env", "UV_USE_IO_URING=1", *argv], uv


def java_start(t: Tools) -> tuple[list[str], str | None]:
    java = _java()
    return [java, "-version"], _java_version(java)


def java_probe(mode: str) -> Callable[[Tools], tuple[list[str], str | None]]:
    def make(t: Tools) -> tuple[list[str], str | None]:
        java = _java()
        version = _java_version(java)
        if int(version.split(".")[0]) < 22:
            pytest.skip(f"JDK {version}: the model leaves 17u/21u statx and copy unknown")
        (t.work / "Probe.java").write_text(JAVA_PROGRAM)
        args = [mode, str(t.work / "src.txt"), str(t.work / "java-dst.txt")]
        return [java, str(t.work / "Probe.java"), *args], version

    return make


def go_probe(mode: str) -> Callable[[Tools], tuple[list[str], str | None]]:
    def make(t: Tools) -> tuple[list[str], str | None]:
        binary = t.build("go")
        go = _need("go")
        version = _output([go, "env", "GOVERSION"])
        return [str(binary), mode, str(t.work / "src.txt"), str(t.work / "go-dst.txt")], version

    return make


def rust_probe(mode: str) -> Callable[[Tools], tuple[list[str], str | None]]:
    def make(t: Tools) -> tuple[list[str], str | None]:
        binary = t.build("rust")
        rustc = shutil.which("rustc") or str(Path.home() / ".cargo/bin/rustc")
        version = _output([rustc, "--version"]).split()[1]
        return [str(binary), mode, str(t.work / "src.txt"), str(t.work / "rs-dst.txt")], version

    return make


def glib(script: str | None) -> Callable[[Tools], tuple[list[str], str | None]]:
    def make(t: Tools) -> tuple[list[str], str | None]:
        if not _has_gi():
            pytest.skip("no PyGObject for Debian's python3")
        version = _output(
            [
                "/usr/bin/python3",
                "-c",
                "from gi.repository import GLib; print('%d.%d.%d' % GLib.glib_version)",
            ]
        )
        if script is None:  # GIO's own tool
            return [_need("gio"), "info", str(t.work / "src.txt")], version
        return ["/usr/bin/python3", "-c", script], version

    return make


CASES: list[tuple[str, str, str, str, Callable[[Tools], tuple[list[str], str | None]]]] = [
    # (name, component, syscall, errno, make)
    ("openssl-rand-eperm", "openssl", "getrandom", "EPERM", openssl_rand),
    ("openssl-rand-enosys", "openssl", "getrandom", "ENOSYS", openssl_rand),
    ("python-urandom", "cpython", "getrandom", "EPERM", python("import os; os.urandom(8)")),
    (
        "python-shutil-copy",
        "cpython",
        "sendfile",
        "EPERM",
        python("import shutil; shutil.copyfile('SRC', 'DST')"),
    ),
    (
        "python-subprocess-close-range",
        "cpython",
        "close_range",
        "EPERM",
        python("import subprocess; subprocess.run(['true'], check=True)"),
    ),
    (
        "python-thread",
        "cpython",
        "clone3",
        "EPERM",
        python("import threading; t = threading.Thread(target=print); t.start(); t.join()"),
    ),
    # node starts libuv's thread pool (and V8's workers) on the first file read: it aborts
    ("node-threads", "libuv", "clone3", "EPERM", node("require('fs').readFile('SRC', () => {})")),
    ("node-io-uring-setup", "libuv", "io_uring_setup", "EPERM", node_io_uring),
    ("node-io-uring-enter", "libuv", "io_uring_enter", "EPERM", node_io_uring),
    ("node-stat", "libuv", "statx", "EPERM", node("require('fs').statSync('/')")),
    (
        "node-copyfile-eperm",
        "libuv",
        "copy_file_range",
        "EPERM",
        node("require('fs').copyFileSync('SRC', 'DST')"),
    ),
    (
        "node-copyfile-enosys",
        "libuv",
        "copy_file_range",
        "ENOSYS",
        node("require('fs').copyFileSync('SRC', 'DST')"),
    ),
    ("java-start-clone3", "openjdk", "clone3", "EPERM", java_start),
    ("java-stat", "openjdk", "statx", "EPERM", java_probe("stat")),
    ("java-copy-eperm", "openjdk", "copy_file_range", "EPERM", java_probe("copy")),
    ("java-copy-enosys", "openjdk", "copy_file_range", "ENOSYS", java_probe("copy")),
    ("go-rand", "go", "getrandom", "EPERM", go_probe("rand")),
    ("go-copy", "go", "copy_file_range", "EPERM", go_probe("copy")),
    ("rust-stat", "rust-std", "statx", "EPERM", rust_probe("stat")),
    ("rust-copy", "rust-std", "copy_file_range", "EPERM", rust_probe("copy")),
    ("rust-hash", "rust-std", "getrandom", "EPERM", rust_probe("hash")),
    ("rust-thread", "rust-std", "clone3", "EPERM", rust_probe("thread")),
    ("glib-spawn-eperm", "glib", "close_range", "EPERM", glib(GLIB_SPAWN)),
    ("glib-spawn-enosys", "glib", "close_range", "ENOSYS", glib(GLIB_SPAWN)),
    ("glib-child-watch", "glib", "pidfd_open", "EPERM", glib(GLIB_CHILD_WATCH)),
    ("gio-info-statx", "glib", "statx", "EPERM", glib(None)),
]

# which API of the component the program exercises, when the model has several for one call
API = {"java-start-clone3": "JVM start-up", "rust-thread": "std::thread::spawn"}


@pytest.mark.parametrize(
    ("component", "syscall", "errno", "make"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_model_predicts_the_real_run(
    tools: Tools,
    component: str,
    syscall: str,
    errno: str,
    make: Callable[[Tools], tuple[list[str], str | None]],
    request: pytest.FixtureRequest,
) -> None:
    if syscall == "clone3" and not _glibc_tries_clone3():
        pytest.skip("this C library does not create threads with clone3")
    argv, version = make(tools)
    found = reactions(component, version, syscall)
    api = API.get(request.node.callspec.id)
    if api is not None:
        found = tuple(r for r in found if r.api.startswith(api))
    assert len(found) == 1, (component, version, syscall, found)
    (reaction,) = found
    predicted_ok = reaction.outcome(errno) in ("fallback", "ignored")

    nr = number("x86-64", syscall)
    assert nr is not None
    run = subprocess.run(
        [str(tools.deny), str(nr), str(ERRNO[errno]), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tools.work,
    )
    assert run.returncode not in (98, 99), run.stderr  # the launcher itself worked
    detail = json.dumps(
        {
            "entry": reaction.entry,
            "version": version,
            "rc": run.returncode,
            "stderr": run.stderr[-400:],
        }
    )
    assert (run.returncode == 0) == predicted_ok, detail
