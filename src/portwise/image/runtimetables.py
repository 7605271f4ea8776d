"""The tables image/langruntimes recognises runtimes and system libraries by: file names,
the packages that date them, and the programs of util-linux.

Kept apart from the detection code so that adding a library is an edit of data here.
"""

from __future__ import annotations

import re
from typing import Final

# system libraries named by their file: the component whose code they are
SYSTEM_LIBRARIES: Final = {
    "libmount.so.1": "util-linux",
    "libblkid.so.1": "util-linux",
    "libsmartcols.so.1": "util-linux",
    "libfdisk.so.1": "util-linux",
    "libbsd.so.0": "libbsd",
    "libsystemd.so.0": "libsystemd",
}

# programs built from util-linux's source, in a bin or sbin directory. Names other projects ship
# too (login, nologin, su, kill, rename, getopt, last, more, wall) are left out: the file's owner
# is not known, and a wrong owner would lend a caller's reaction to someone else's code.
UTIL_LINUX_PROGRAMS: Final = frozenset(
    {
        "agetty", "blkdiscard", "blkid", "blkpr", "blkzone", "blockdev", "cfdisk", "chcpu",
        "chmem", "choom", "chrt", "ctrlaltdel", "dmesg", "fadvise", "fallocate", "fdisk",
        "findfs", "findmnt", "flock", "fsck", "fsck.cramfs", "fsck.minix", "fsfreeze", "fstrim",
        "hwclock", "ionice", "ipcmk", "ipcrm", "ipcs", "isosize", "ldattach", "logger",
        "losetup", "lsblk", "lsclocks", "lscpu", "lsfd", "lsipc", "lsirq", "lslocks", "lslogins",
        "lsmem", "lsns", "mcookie", "mkfs", "mkfs.bfs", "mkfs.cramfs", "mkfs.minix", "mkswap",
        "mount", "mountpoint", "namei", "nsenter", "partx", "pivot_root", "prlimit",
        "readprofile", "rename.ul", "renice", "resizepart", "rev", "rfkill", "rtcwake", "script",
        "scriptlive", "scriptreplay", "setarch", "setpriv", "setsid", "setterm", "sfdisk",
        "swaplabel", "swapoff", "swapon", "switch_root", "taskset", "uclampset", "umount",
        "unshare", "utmpdump", "uuidd", "uuidgen", "uuidparse", "waitpid", "wdctl", "whereis",
        "wipefs", "zramctl",
    }
)  # fmt: skip

# names util-linux shares with other projects, counted only when the binary package that ships
# them in Debian was built from util-linux's source (Debian trixie's login; bookworm's login
# package was built from shadow)
SHARED_PROGRAMS: Final = {"login": "login", "nologin": "login"}

# base names worth a look, matched by one expression over the joined paths (a Python loop over
# every file of a large image costs more than the whole detection)
NAMES: Final = re.compile(
    r"/(?:"
    r"lib(?:glib|gio|gobject|gmodule|gthread)-2\.0\.so\.0\.(?P<glib>\d+)\.(?P<glib_rev>\d+)"
    r"|libpython(?P<pylib>3\.\d+)[a-z]*\.so(?:\.\d+)*"
    r"|python(?P<pybin>3\.\d+)"
    r"|libuv\.so\.1(?:\.\d+)*"
    r"|lib(?:crypto|ssl)\.so\.\d+(?:\.\d+)*"
    r"|(?P<syslib>lib(?:mount|blkid|smartcols|fdisk)\.so\.1|libbsd\.so\.0|libsystemd\.so\.0)"
    r"(?:\.\d+)*"
    r"|(?P<program>"
    + "|".join(map(re.escape, sorted(UTIL_LINUX_PROGRAMS | SHARED_PROGRAMS.keys())))
    + ")"
    r")$",
    re.MULTILINE,
)

# package names whose version stands for a runtime the files did not date
PACKAGES: Final[dict[str, re.Pattern[str]]] = {
    "glib": re.compile(r"^(?:libglib2\.0-0(?:t64)?|glib2)$"),
    "libuv": re.compile(r"^(?:libuv1(?:t64)?|libuv)$"),
    "openssl": re.compile(
        r"^(?:libssl3(?:t64)?|libssl1\.1|libssl1\.0\.[02]|openssl-libs|libcrypto3)$"
    ),
    "nodejs": re.compile(r"^nodejs$"),
    # Debian splits util-linux into util-linux, mount, libmount1...; Fedora has util-linux-core
    # and libmount, Alpine util-linux and libmount: all carry the source's version
    "util-linux": re.compile(
        r"^(?:util-linux(?:-core)?|mount|lib(?:mount|blkid|smartcols|fdisk)1?)$"
    ),
    "libbsd": re.compile(r"^libbsd0?$"),
    "libsystemd": re.compile(r"^(?:libsystemd0|systemd-libs)$"),
}

# components whose code is only in their own file: a call issued by another binary of the same
# process (a program linking libsystemd) is that binary's own, never theirs
OWN_CODE_ONLY: Final = frozenset({"util-linux", "libbsd", "libsystemd"})
