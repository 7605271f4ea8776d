"""FIPS, SELinux, AppArmor, the sysctls that break images, and binfmt_misc handlers."""

from __future__ import annotations

from portwise.host.files import HostFiles, Unreadable
from portwise.model.host import BinfmtHandler, Fact, SecurityFacts

# sysctl -> why it matters to images (rootless engines, io_uring users, JVM/ES map counts, BPF)
SYSCTLS = {
    "user.max_user_namespaces": "0 disables user namespaces: rootless engines fail",
    "kernel.unprivileged_userns_clone": "Debian/Ubuntu switch for unprivileged user namespaces",
    "kernel.apparmor_restrict_unprivileged_userns": "Ubuntu 23.10+: userns needs a profile",
    "kernel.io_uring_disabled": "2 disables io_uring (6.6+): io_uring users fail",
    "vm.max_map_count": "Elasticsearch and JVMs need more than the default 65530",
    "kernel.unprivileged_bpf_disabled": "BPF users without CAP_BPF fail",
}
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"


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


def read_security(files: HostFiles) -> SecurityFacts:
    return SecurityFacts(
        fips=_flag(files, "/proc/sys/crypto/fips_enabled", "1"),
        selinux=_selinux(files),
        apparmor=_flag(files, "/sys/module/apparmor/parameters/enabled", "Y"),
        sysctls={name: _sysctl(files, name) for name in SYSCTLS},
        binfmt=read_binfmt(files),
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
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        return Fact.of(files.read_text(path).strip(), f"file {path}")
    except Unreadable as exc:
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
