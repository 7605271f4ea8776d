"""Kernel facts: release, version, architecture, page size, vsyscall mode and config options.

Reading (read_kernel) is split from parsing (parse_* are pure and table-tested).
"""

from __future__ import annotations

import os
import platform
import re

from portwise.host.files import HostFiles, Unreadable
from portwise.model.host import Fact, KernelFacts

# Options whose value decides whether an image's expectations hold (user namespaces for rootless
# engines, seccomp filters, cgroup controllers, overlayfs, legacy vsyscall for old glibc,
# io_uring, BPF, keys, userfaultfd, kcmp, Landlock and the boot-time LSM list, netfilter back
# ends, page size, 32-bit compat, binfmt_misc for foreign arches).
RELEVANT = re.compile(
    r"^CONFIG_(USER_NS|SECCOMP|SECCOMP_FILTER|CGROUPS|MEMCG|CGROUP_PIDS|CGROUP_BPF|OVERLAY_FS"
    r"|LEGACY_VSYSCALL_\w+|X86_VSYSCALL_EMULATION|IO_URING|BPF_SYSCALL|NF_TABLES|IP_NF_IPTABLES"
    r"|BRIDGE_NETFILTER|ARM64_(4K|16K|64K)_PAGES|PAGE_SIZE_\w+|PPC_(4K|64K)_PAGES|COMPAT"
    r"|IA32_EMULATION|BINFMT_MISC|CHECKPOINT_RESTORE|CRYPTO_FIPS|SECURITY_SELINUX"
    r"|SECURITY_APPARMOR|KEYS|VETH|NAMESPACES|PID_NS|NET_NS|IPC_NS|UTS_NS|TIME_NS|MODULES"
    r"|USERFAULTFD|KCMP|SECURITY|SECURITY_LANDLOCK|LSM)$"
)
PAGE_OPTIONS = {
    "CONFIG_ARM64_4K_PAGES": 4096,
    "CONFIG_ARM64_16K_PAGES": 16384,
    "CONFIG_ARM64_64K_PAGES": 65536,
    "CONFIG_PPC_4K_PAGES": 4096,
    "CONFIG_PPC_64K_PAGES": 65536,
    "CONFIG_PAGE_SIZE_4KB": 4096,
    "CONFIG_PAGE_SIZE_16KB": 16384,
    "CONFIG_PAGE_SIZE_64KB": 65536,
}
VSYSCALL_OPTIONS = {
    "CONFIG_LEGACY_VSYSCALL_NONE": "none",
    "CONFIG_LEGACY_VSYSCALL_XONLY": "xonly",
    "CONFIG_LEGACY_VSYSCALL_EMULATE": "emulate",
}
# modules container engines rely on: overlay storage, netfilter back ends, bridge networking
WATCHED_MODULES = (
    "overlay",
    "nf_tables",
    "ip_tables",
    "iptable_nat",
    "iptable_filter",
    "br_netfilter",
    "bridge",
    "veth",
    "xt_conntrack",
    "nf_nat",
    "nvidia",
)
MACHINE_NAMES = {
    "x86_64": "x86-64",
    "aarch64": "aarch64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "i686": "i386",
}


def parse_config(text: str) -> dict[str, str]:
    """The relevant options: `CONFIG_X=y|m|value`, and `# CONFIG_X is not set` as "n"."""
    options = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            name, value = line[2:].split(" ", 1)[0], "n"
        elif line.startswith("CONFIG_") and "=" in line:
            name, value = line.split("=", 1)
            value = value.strip('"')
        else:
            continue
        if RELEVANT.match(name):
            options[name] = value
    return options


def parse_vsyscall_cmdline(cmdline: str) -> str | None:
    match = re.search(r"(?:^|\s)vsyscall=(\w+)", cmdline)
    return match.group(1) if match else None


def vsyscall_from_config(config: dict[str, str]) -> str | None:
    for option, mode in VSYSCALL_OPTIONS.items():
        if config.get(option) == "y":
            return mode
    return None


def page_size_from_config(config: dict[str, str]) -> int | None:
    for option, size in PAGE_OPTIONS.items():
        if config.get(option) == "y":
            return size
    return None


def parse_kernel_page_size(smaps: str) -> int | None:
    match = re.search(r"^KernelPageSize:\s+(\d+) kB", smaps, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def parse_modules(loaded: str, builtin: str) -> dict[str, str]:
    """Watched modules: "loaded" (/proc/modules) or "builtin" (modules.builtin paths)."""
    found = {}
    builtin_names = {line.rsplit("/", 1)[-1].removesuffix(".ko") for line in builtin.split()}
    loaded_names = {line.split()[0] for line in loaded.splitlines() if line.strip()}
    for name in WATCHED_MODULES:
        if name in builtin_names:
            found[name] = "builtin"
        elif name in loaded_names:
            found[name] = "loaded"
    return found


MODULE_OPTIONS = {
    "overlay": "CONFIG_OVERLAY_FS",
    "nf_tables": "CONFIG_NF_TABLES",
    "ip_tables": "CONFIG_IP_NF_IPTABLES",
    "br_netfilter": "CONFIG_BRIDGE_NETFILTER",
    "veth": "CONFIG_VETH",
}


def modules_from_config(config: dict[str, str]) -> dict[str, str]:
    """A kernel without loadable modules has every driver built in: read them off the config."""
    return {name: "builtin" for name, option in MODULE_OPTIONS.items() if config.get(option) == "y"}


def _modules(
    files: HostFiles, release: str | None, config: Fact[dict[str, str]]
) -> Fact[dict[str, str]]:
    try:
        loaded = files.read_text("/proc/modules")
    except Unreadable as exc:
        if config.value is not None and config.value.get("CONFIG_MODULES") != "y":
            return Fact.of(
                modules_from_config(config.value),
                f"kernel config ({config.source}): no loadable modules",
            )
        return Fact.missing(exc.reason)
    builtin, source = "", "file /proc/modules"
    if release:
        try:
            builtin = files.read_text(f"/lib/modules/{release}/modules.builtin")
            source += f" and /lib/modules/{release}/modules.builtin"
        except Unreadable:
            source += " (no modules.builtin: built-in modules not seen)"
    return Fact.of(parse_modules(loaded, builtin), source)


def read_kernel(files: HostFiles) -> KernelFacts:
    release = _text_fact(files, "/proc/sys/kernel/osrelease")
    version = _text_fact(files, "/proc/sys/kernel/version")
    config = _config(files, release.value)
    return KernelFacts(
        release=release,
        version=version,
        architecture=read_architecture(files),
        page_size=_page_size(files, config),
        vsyscall=_vsyscall(files, config),
        config=config,
        modules=_modules(files, release.value, config),
    )


def _text_fact(files: HostFiles, path: str) -> Fact[str]:
    try:
        return Fact.of(files.read_text(path).strip(), f"file {path}")
    except Unreadable as exc:
        return Fact.missing(exc.reason)


def _config(files: HostFiles, release: str | None) -> Fact[dict[str, str]]:
    candidates = ["/proc/config.gz"]
    if release:
        candidates += [f"/boot/config-{release}", f"/lib/modules/{release}/config"]
    try:
        text, path = files.first(*candidates)
    except Unreadable as exc:
        return Fact.missing(f"no kernel config: {exc.reason}")
    return Fact.of(parse_config(text), f"file {path}")


def read_architecture(files: HostFiles) -> Fact[str]:
    if files.is_live:
        machine = platform.machine()
        return Fact.of(MACHINE_NAMES.get(machine, machine), "uname -m")
    try:
        machine = files.read_text("/proc/sys/kernel/arch").strip()
        return Fact.of(MACHINE_NAMES.get(machine, machine), "file /proc/sys/kernel/arch")
    except Unreadable as exc:
        return Fact.missing(exc.reason)


def _page_size(files: HostFiles, config: Fact[dict[str, str]]) -> Fact[int]:
    if files.is_live:
        return Fact.of(os.sysconf("SC_PAGESIZE"), "sysconf(_SC_PAGESIZE)")
    try:
        size = parse_kernel_page_size(files.read_text("/proc/1/smaps"))
        if size:
            return Fact.of(size, "file /proc/1/smaps KernelPageSize")
    except Unreadable:
        pass
    from_config = page_size_from_config(config.value or {})
    if from_config:
        return Fact.of(from_config, f"kernel config ({config.source})")
    return Fact.missing("neither /proc/1/smaps nor a page-size option in the kernel config")


def _vsyscall(files: HostFiles, config: Fact[dict[str, str]]) -> Fact[str]:
    try:
        mode = parse_vsyscall_cmdline(files.read_text("/proc/cmdline"))
        if mode:
            return Fact.of(mode, "file /proc/cmdline vsyscall=")
    except Unreadable:
        pass
    mode = vsyscall_from_config(config.value or {})
    if mode:
        return Fact.of(mode, f"kernel config default ({config.source})")
    return Fact.missing("no vsyscall= on the command line and no kernel config to read")
