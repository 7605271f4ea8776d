"""The battery: small real commands, each exercising one thing that breaks between image and host.

Each is a portwise Probe run by the image's /bin/sh; `needs` names the programs it runs, so it is
skipped on images without them. What a probe exercises is not declared here: the bench measures
it (every syscall the probe's processes issue in an unconstrained run, under strace), so the
verdict's findings are compared with what the programs really do.

Our own probes fill the gaps: bench/accuracy/gprobe (Go 1.19 and 1.24) and jprobe (Java);
fzf's os/exec cannot be used: fzf runs FZF_DEFAULT_COMMAND only when stdin is a terminal.
"""

from __future__ import annotations

from portwise.runtime.probes import Probe

PY = "/usr/bin/python3"
GO = "/usr/local/bin/gprobe"  # Go 1.19
GO124 = "/usr/local/bin/gprobe-go124"  # Go 1.24: os/exec with pidfd
RS = "/usr/bin/coreutils"  # uutils coreutils (Rust std), one program for every utility
JAVA = "java -cp /opt/jprobe Probe"
JP = ("/usr/bin/java", "/opt/jprobe/Probe.class")


def _sh(name: str, command: str, *needs: str) -> Probe:
    return Probe(name, ("/bin/sh", "-c", command), ("/bin/sh", *needs))


def _py(name: str, code: str) -> Probe:
    return Probe(name, (PY, "-c", code), (PY,))


BATTERY: tuple[Probe, ...] = (
    # threads
    _sh("xz-threads", "echo portwise | xz -T2 >/dev/null", "/usr/bin/xz"),
    _py("py-threads", "import threading as t; x=t.Thread(target=int); x.start(); x.join()"),
    _sh("java-version", "java -version 2>/dev/null", "/usr/bin/java"),
    _sh("rg-threads", "rg -j2 -q root /etc", "/usr/bin/rg"),
    _sh("fd-walk", "fdfind -j2 . /etc >/dev/null", "/usr/bin/fdfind"),
    _sh("go-threads", "gprobe threads", GO),
    _sh("go124-threads", "gprobe-go124 threads", GO124),
    _sh("java-threads", f"{JAVA} threads", *JP),
    _sh("fzf-start", "fzf --version >/dev/null", "/usr/bin/fzf"),
    # spawning
    _sh("sh-spawn", "/bin/sh -c true && env true", "/usr/bin/env"),
    _py("py-subprocess", "import subprocess as s; s.run(['true'], check=True)"),
    _sh("go-exec", "gprobe exec", GO),
    _sh("go124-exec", "gprobe-go124 exec", GO124),
    _sh("java-exec", f"{JAVA} exec", *JP),
    # stat
    _sh("ls-l", "ls -l /etc >/dev/null", "/bin/ls"),
    _sh("stat", "stat /etc/passwd >/dev/null", "/usr/bin/stat"),
    _py("py-stat", "import os; os.stat('/etc/passwd'); os.lstat('/bin')"),
    _sh("go-stat", "gprobe stat", GO),
    _sh("go124-stat", "gprobe-go124 stat", GO124),
    _sh("java-stat", f"{JAVA} stat", *JP),
    _sh("rs-ls-l", "coreutils ls -l /etc >/dev/null", RS),
    _sh("rs-stat", "coreutils stat /etc/passwd >/dev/null", RS),
    _sh("rg-files", "rg --files /etc >/dev/null", "/usr/bin/rg"),
    # access
    _sh("test-x-dash", "[ -x /bin/sh ]"),
    _sh("test-x-coreutils", "/usr/bin/test -x /bin/sh", "/usr/bin/test"),
    _py("py-access", "import os,sys; sys.exit(not os.access('/bin/sh', os.X_OK))"),
    _sh("rs-test-x", "coreutils test -x /bin/sh", RS),
    # chmod
    _sh("chmod", "cp /etc/hostname /tmp/f && chmod 600 /tmp/f", "/bin/cp", "/bin/chmod"),
    _sh("install-mode", "install -m 600 /etc/hostname /tmp/g", "/usr/bin/install"),
    _py("py-chmod", "import os; open('/tmp/c','w').close(); os.chmod('/tmp/c', 0o600)"),
    _sh("go-chmod", "gprobe chmod", GO),
    _sh("go124-chmod", "gprobe-go124 chmod", GO124),
    _sh("java-chmod", f"{JAVA} chmod", *JP),
    _sh("rs-chmod", "coreutils cp /etc/hostname /tmp/r && coreutils chmod 600 /tmp/r", RS),
    # file copy
    _sh("cp", "cp /etc/services /tmp/s", "/bin/cp"),
    _py("py-copy", "import shutil; shutil.copy('/etc/services', '/tmp/s')"),
    _sh("go-copy", "gprobe copy", GO),
    _sh("go124-copy", "gprobe-go124 copy", GO124),
    _sh("java-copy", f"{JAVA} copy", *JP),
    _sh("rs-cp", "coreutils cp /etc/services /tmp/s", RS),
    # process handles
    _py("py-pidfd", "import os; os.close(os.pidfd_open(os.getpid()))"),
    # async I/O
    # fio exits 0 when it cannot start its helper thread: its error lines count as failure
    _sh(
        "fio-io_uring",
        "e=$(fio --name=t --ioengine=io_uring --filename=/tmp/u --size=256k --rw=read "
        '--output=/dev/null 2>&1); r=$?; echo "$e" >&2; '
        "[ $r -eq 0 ] && ! echo \"$e\" | grep -qiE 'fail|error'",
        "/usr/bin/fio",
    ),
    # random
    _py("py-urandom", "import os; os.urandom(16)"),
    _sh("openssl-rand", "openssl rand -hex 8 >/dev/null", "/usr/bin/openssl"),
)
QUICK = (
    "xz-threads",
    "py-threads",
    "go124-exec",
    "ls-l",
    "test-x-dash",
    "chmod",
    "cp",
    "py-pidfd",
    "openssl-rand",
)
