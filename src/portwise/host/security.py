"""FIPS, SELinux, AppArmor, the active LSMs, the sysctls that break images, binfmt_misc."""

from __future__ import annotations

import re

from portwise.host.files import HostFiles, Unreadable
from portwise.model.host import BinfmtHandler, Fact, SecurityFacts

# sysctl -> why it matters to images (rootless engines, io_uring users, JVM/ES map counts, BPF)
SYSCTLS = {
    "user.max_user_namespaces": "0 disables user namespaces: rootless engines fail",
    "kernel.unprivileged_userns_clone": "Debian/Ubuntu switch for unprivileged user namespaces",
    "kernel.apparmor_restrict_unprivileged_userns": "Ubuntu 23.10+: userns needs a profile",
    "kernel.io_uring_disabled": "2 disables io_uring (6.6+): io_uring users fail",
    "kernel.io_uring_group": "with io_uring_disabled=1, the group that may still use io_uring",
    "vm.unprivileged_userfaultfd": "0 refuses userfaultfd to unprivileged callers (5.2+)",
    "vm.max_map_count": "Elasticsearch and JVMs need more than the default 65530",
    "kernel.unprivileged_bpf_disabled": "BPF users without CAP_BPF fail",
}
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
LSM_FILE = "/sys/kernel/security/lsm"


def parse_binfmt(name: str, text: str) -> BinfmtHandler:
    fields: dict[str, str] = {}
    enabled = False
    for line in text.splitlines():
        if line in ("enabled", "disabled"):
            enabled = line == "enabled"
            continue
        key, _, value = line.partition(" ")
        fields[key] = value
    return BinfmtHandler(
        name=name,
        enabled=enabled,
        interpreter=fields.get("interpreter"),
        flags=fields.get("flags:", fields.get("flags", "")).strip(),
        magic=fields.get("magic"),
    )


def read_security(
    files: HostFiles, kernel_config: Fact[dict[str, str]] | None = None
) -> SecurityFacts:
    return SecurityFacts(
        fips=_flag(files, "/proc/sys/crypto/fips_enabled", "1"),
        selinux=_selinux(files),
        sysctls={name: _sysctl(files, name) for name in SYSCTLS},
        binfmt=read_binfmt(files),
        lsms=_lsms(files, kernel_config),
    )


def parse_lsm_list(text: str) -> list[str]:
    """`landlock,lockdown,yama` (the securityfs file, lsm= or CONFIG_LSM) as a list."""
    return [name for name in (part.strip() for part in text.split(",")) if name]


def parse_lsm_cmdline(cmdline: str) -> tuple[str | None, str | None]:
    """(lsm=, security=) from the kernel command line; None where absent."""
    lsm = re.search(r"(?:^|\s)lsm=(\S*)", cmdline)
    security = re.search(r"(?:^|\s)security=(\S*)", cmdline)
    return (lsm.group(1) if lsm else None, security.group(1) if security else None)


def _lsms(files: HostFiles, kernel_config: Fact[dict[str, str]] | None) -> Fact[list[str]]:
    """The active LSMs: securityfs says; else lsm= on the command line, which overrides the
    build's CONFIG_LSM order; else CONFIG_LSM itself, unless security= picks a major LSM
    (then the list depends on which modules are exclusive, and portwise does not guess)."""
    try:
        return Fact.of(parse_lsm_list(files.read_text(LSM_FILE)), f"file {LSM_FILE}")
    except Unreadable as exc:
        reason = exc.reason
    try:
        lsm, security = parse_lsm_cmdline(files.read_text("/proc/cmdline"))
    except Unreadable as exc:
        return Fact.missing(f"{reason}; {exc.reason}")
    if lsm is not None:
        return Fact.of(parse_lsm_list(lsm), "file /proc/cmdline lsm=")
    config = kernel_config.value if kernel_config is not None else None
    if security is not None:
        return Fact.missing(f"{reason}; security={security} on the command line changes the order")
    if config is None or "CONFIG_LSM" not in config:
        return Fact.missing(f"{reason}; no lsm= on the command line and no CONFIG_LSM to read")
    source = kernel_config.source if kernel_config is not None else None
    return Fact.of(
        parse_lsm_list(config["CONFIG_LSM"]),
        f"kernel config CONFIG_LSM ({source}); no lsm= on /proc/cmdline",
    )


def _flag(files: HostFiles, path: str, true_value: str) -> Fact[bool]:
    try:
        return Fact.of(files.read_text(path).strip() == true_value, f"file {path}")
    except Unreadable as exc:
        return Fact.missing(exc.reason)


def _selinux(files: HostFiles) -> Fact[str]:
    try:
        value = files.read_text("/sys/fs/selinux/enforce").strip()
    except Unreadable:
        if files.resolve("/sys/fs/selinux").exists() or not files.resolve("/sys/fs").exists():
            return Fact.missing("/sys/fs/selinux/enforce cannot be read")
        return Fact.of("disabled", "no /sys/fs/selinux (selinuxfs not mounted)")
    return Fact.of("enforcing" if value == "1" else "permissive", "file /sys/fs/selinux/enforce")


def _sysctl(files: HostFiles, name: str) -> Fact[str]:
    """The value; a sysctl the kernel lacks is unknown with a reason ending "does not exist",
    which rules may read as "this kernel has no such switch" only when /proc/sys is there."""
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        return Fact.of(files.read_text(path).strip(), f"file {path}")
    except Unreadable as exc:
        if not files.resolve("/proc/sys/kernel").is_dir():
            return Fact.missing(f"{path}: /proc/sys is not mounted under the root")
        return Fact.missing(exc.reason)


def read_binfmt(files: HostFiles) -> Fact[list[BinfmtHandler]]:
    directory = files.resolve(BINFMT_DIR)
    if not (directory / "status").exists():
        return Fact.missing(f"binfmt_misc is not mounted at {BINFMT_DIR}")
    handlers = []
    for entry in sorted(directory.iterdir()):
        if entry.name in ("status", "register"):
            continue
        try:
            handlers.append(parse_binfmt(entry.name, files.read_text(f"{BINFMT_DIR}/{entry.name}")))
        except Unreadable:
            continue
    return Fact.of(handlers, f"directory {BINFMT_DIR}")
