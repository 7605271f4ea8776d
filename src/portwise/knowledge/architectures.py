"""Names of one CPU architecture in each vocabulary portwise meets.

OCI platforms say "arm64", ELF headers and portwise's host facts say "aarch64", qemu-user and
binfmt_misc handlers say "aarch64" too but "x86_64" for x86-64. Sources: the OCI image index
platform.architecture values follow Go's GOARCH
(https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md); qemu's binfmt names
are those of scripts/qemu-binfmt-conf.sh (https://github.com/qemu/qemu/blob/v8.2.0/scripts/qemu-binfmt-conf.sh).
"""

from __future__ import annotations

# OCI architecture -> (portwise machine name, qemu-user / binfmt name)
OCI_ARCHITECTURES: dict[str, tuple[str, str]] = {
    "amd64": ("x86-64", "x86_64"),
    "arm64": ("aarch64", "aarch64"),
    "arm": ("arm", "arm"),
    "386": ("i386", "i386"),
    "ppc64le": ("ppc64le", "ppc64le"),
    "s390x": ("s390x", "s390x"),
    "riscv64": ("riscv64", "riscv64"),
    "mips64le": ("mips", "mips64el"),
    "loong64": ("loongarch64", "loongarch64"),
}
QEMU_NAMES: dict[str, str] = {machine: qemu for machine, qemu in OCI_ARCHITECTURES.values()}
# 64-bit kernels that can run the 32-bit sibling natively (CONFIG_IA32_EMULATION, CONFIG_COMPAT).
COMPAT: dict[str, tuple[str, str]] = {
    "i386": ("x86-64", "CONFIG_IA32_EMULATION"),
    "arm": ("aarch64", "CONFIG_COMPAT"),
}


def qemu_handler(machine: str) -> str:
    """The binfmt_misc handler qemu-user registers for a machine: qemu-aarch64, qemu-arm."""
    return f"qemu-{QEMU_NAMES.get(machine, machine)}"


def serves(machine: str, handler: str, interpreter: str | None) -> bool:
    """A binfmt_misc handler is qemu-user for this machine, by its name or its interpreter's
    (qemu-aarch64, qemu-aarch64-static, /usr/libexec/qemu-binfmt/aarch64-binfmt-P is not)."""
    qemu = qemu_handler(machine)
    program = (interpreter or "").rsplit("/", 1)[-1].removesuffix("-static")
    return any(n == qemu or n.startswith(qemu + "-") for n in (handler, program))


def machine_of(oci_architecture: str) -> str:
    """portwise machine name of an OCI architecture (unknown names pass through)."""
    return OCI_ARCHITECTURES.get(oci_architecture, (oci_architecture, ""))[0]


def oci_of(machine: str) -> str | None:
    """OCI architecture of a portwise machine name (x86-64 -> amd64), None when unknown."""
    return next((oci for oci, (m, _) in OCI_ARCHITECTURES.items() if m == machine), None)
