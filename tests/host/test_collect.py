"""Host facts: this machine for real, and fabricated host roots for what it cannot show."""

from __future__ import annotations

import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from portwise.host.cgroup import parse_mounts, parse_proc_cgroups
from portwise.host.collect import collect_host
from portwise.host.cpu import parse_cpuinfo, x86_level
from portwise.host.engine_config import parse_xfs_ftype
from portwise.host.engines import IPTABLES_SAVE, count_rules, parse_iptables_backend
from portwise.host.kernel import parse_config, parse_vsyscall_cmdline
from portwise.host.seccomp_table import seccomp_table
from portwise.model.host import HostProfile
from portwise.model.schema import schema_json

V2_FLAGS = "fpu cmov cx8 sse sse2 pni ssse3 sse4_1 sse4_2 popcnt cx16 lahf_lm lm"
V3_FLAGS = V2_FLAGS + " avx avx2 bmi1 bmi2 f16c fma abm movbe xsave"
V4_FLAGS = V3_FLAGS + " avx512f avx512bw avx512cd avx512dq avx512vl"


def test_this_machine() -> None:
    host = collect_host()
    assert host.kernel.release.value == platform.release()
    assert host.kernel.page_size.value == os.sysconf("SC_PAGESIZE")
    assert host.kernel.architecture.value == {"x86_64": "x86-64"}.get(
        platform.machine(), platform.machine()
    )
    assert host.cgroup.version.value in ("v1", "v2", "hybrid")
    assert host.cpu.flags.value and host.cpu.flags.source == "file /proc/cpuinfo"
    for fact in (host.kernel.release, host.kernel.version, host.cpu.model, host.cgroup.version):
        assert fact.source is not None and fact.unknown is None
    jsonschema.validate(json.loads(host.model_dump_json()), json.loads(schema_json("host")))


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


OLD_HOST = {
    "/proc/sys/kernel/osrelease": "3.10.0-1160.el7.x86_64\n",
    "/proc/sys/kernel/version": "#1 SMP Mon Oct 19 16:18:59 UTC 2020\n",
    "/proc/sys/kernel/arch": "x86_64\n",
    "/proc/cmdline": "BOOT_IMAGE=/vmlinuz ro vsyscall=none quiet\n",
    "/proc/cpuinfo": f"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon E5\n"
    f"flags\t\t: {V2_FLAGS}\n\n",
    "/proc/mounts": "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
    "cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n",
    "/proc/cgroups": "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t90\t1\n"
    "pids\t3\t90\t1\nhugetlb\t0\t1\t0\n",
    "/proc/1/smaps": "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/libc.so\n"
    "KernelPageSize:        4 kB\n",
    "/usr/lib/modules/3.10.0-1160.el7.x86_64/config": (
        "CONFIG_SECCOMP_FILTER=y\n# CONFIG_USER_NS is not set\nCONFIG_OVERLAY_FS=m\n"
    ),
}


def test_fabricated_old_host(tmp_path: Path) -> None:
    root = write(tmp_path / "root", OLD_HOST)
    (root / "lib").symlink_to("usr/lib")  # a usrmerged /lib; absolute links below resolve in root
    host = collect_host(root)
    assert host.kernel.release.value == "3.10.0-1160.el7.x86_64"
    assert (host.kernel.vsyscall.value, host.kernel.vsyscall.source) == (
        "none",
        "file /proc/cmdline vsyscall=",
    )
    assert host.kernel.config.value == {
        "CONFIG_SECCOMP_FILTER": "y",
        "CONFIG_USER_NS": "n",
        "CONFIG_OVERLAY_FS": "m",
    }
    assert host.kernel.config.source == "file /lib/modules/3.10.0-1160.el7.x86_64/config"
    assert host.cgroup.version.value == "v1"
    assert host.cgroup.controllers.value == ["memory", "pids"]
    assert host.cpu.x86_64_level.value == "x86-64-v2"
    assert "AVX2" in host.cpu.missing_for_next_level
    assert host.kernel.page_size.value == 4096


def test_fabricated_arm64_64k_pages_cgroup_v2(tmp_path: Path) -> None:
    config = gzip.compress(b"CONFIG_ARM64_64K_PAGES=y\nCONFIG_USER_NS=y\n")
    root = write(
        tmp_path / "root",
        {
            "/proc/sys/kernel/osrelease": "5.14.0-427.el9.aarch64\n",
            "/proc/sys/kernel/arch": "aarch64\n",
            "/proc/config.gz": config,
            "/proc/mounts": "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n",
            "/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
            "/proc/cpuinfo": (
                "processor\t: 0\nCPU implementer\t: 0x41\nFeatures\t: fp asimd atomics\n"
            ),
        },
    )
    host = collect_host(root)
    assert (host.kernel.page_size.value, host.kernel.page_size.source) == (
        65536,
        "kernel config (file /proc/config.gz)",
    )
    assert host.kernel.architecture.value == "aarch64"
    assert host.cgroup.version.value == "v2"
    assert host.cgroup.controllers.value == ["cpuset", "cpu", "io", "memory", "pids"]
    assert host.cpu.flags.value == ["fp", "asimd", "atomics"]
    assert host.cpu.x86_64_level.value is None and host.cpu.x86_64_level.unknown


def test_missing_files_are_unknown_with_a_reason(tmp_path: Path) -> None:
    host = collect_host(write(tmp_path / "empty", {"/etc/hostname": "x\n"}))
    assert host.kernel.release.value is None
    assert host.kernel.release.unknown == "/proc/sys/kernel/osrelease does not exist"
    assert host.kernel.vsyscall.unknown and host.cgroup.version.unknown
    assert host.cpu.flags.unknown == "/proc/cpuinfo does not exist"


def test_symlink_never_leaves_the_root(tmp_path: Path) -> None:
    """/boot/config-R -> /etc/secret-config must read ROOT/etc/secret-config, not the host's."""
    root = write(
        tmp_path / "root",
        {
            "/proc/sys/kernel/osrelease": "6.1.0\n",
            "/etc/kernel-config": "CONFIG_USER_NS=y\n",
        },
    )
    (root / "boot").mkdir()
    (root / "boot" / "config-6.1.0").symlink_to("/etc/kernel-config")
    host = collect_host(root)
    assert host.kernel.config.value == {"CONFIG_USER_NS": "y"}


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ("fpu sse sse2 lm", "x86-64-baseline"),
        (V2_FLAGS, "x86-64-v2"),
        (V3_FLAGS, "x86-64-v3"),
        (V4_FLAGS, "x86-64-v4"),
        (V3_FLAGS.replace(" movbe", ""), "x86-64-v2"),
    ],
)
def test_x86_level(flags: str, level: str) -> None:
    assert x86_level(set(flags.split()))[0] == level


def test_parsers() -> None:
    assert parse_vsyscall_cmdline("ro vsyscall=emulate") == "emulate"
    assert parse_vsyscall_cmdline("ro quiet") is None
    assert (
        parse_mounts(
            "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/hugetlb cgroup rw 0 0\n"
        )
        == "hybrid"
    )
    assert parse_proc_cgroups("#h\ncpu\t1\t1\t1\nrdma\t0\t1\t0\n") == ["cpu"]
    assert parse_config("CONFIG_FOO=y\nCONFIG_IO_URING=y\n") == {"CONFIG_IO_URING": "y"}
    assert parse_cpuinfo("vendor_id : AMD\nflags : a b\n\nflags : c\n") == ("AMD", None, ["a", "b"])


def test_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "portwise",
            "host",
            "--json",
            "--root",
            str(write(tmp_path / "root", OLD_HOST)),
            "--name",
            "rhel7",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "rhel7"
    bad = subprocess.run(
        [sys.executable, "-m", "portwise", "host", "--root", "/nonexistent"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 64 and "--root /nonexistent is not a directory" in bad.stderr


def test_fabricated_fips_selinux_binfmt_sysctls(tmp_path: Path) -> None:
    root = write(
        tmp_path / "root",
        {
            "/proc/sys/crypto/fips_enabled": "1\n",
            "/sys/fs/selinux/enforce": "1",
            "/proc/sys/user/max_user_namespaces": "0\n",
            "/proc/sys/kernel/io_uring_disabled": "2\n",
            "/proc/sys/fs/binfmt_misc/status": "enabled\n",
            "/proc/sys/fs/binfmt_misc/register": "",
            "/proc/sys/fs/binfmt_misc/qemu-aarch64": (
                "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\n"
                "magic 7f454c460201010000000000000000000200b700\n"
            ),
        },
    )
    security = collect_host(root).security
    assert security.fips.value is True and security.fips.source == (
        "file /proc/sys/crypto/fips_enabled"
    )
    assert security.selinux.value == "enforcing"
    assert security.sysctls["user.max_user_namespaces"].value == "0"
    assert security.sysctls["kernel.io_uring_disabled"].value == "2"
    assert security.sysctls["vm.max_map_count"].unknown == (
        "/proc/sys/vm/max_map_count does not exist"
    )
    handlers = security.binfmt.value
    assert handlers is not None
    assert [(h.name, h.enabled, h.interpreter, h.flags) for h in handlers] == [
        ("qemu-aarch64", True, "/usr/bin/qemu-aarch64-static", "F")
    ]


def test_binfmt_not_mounted_is_unknown(tmp_path: Path) -> None:
    host = collect_host(write(tmp_path / "root", {"/proc/sys/kernel/osrelease": "6.1\n"}))
    assert host.security.binfmt.unknown == (
        "binfmt_misc is not mounted at /proc/sys/fs/binfmt_misc"
    )


def test_engines_on_this_machine() -> None:
    engines = collect_host().engines
    runtimes = {t.name: t.version.value for t in engines.runtimes.value or []}
    runc = subprocess.run(["runc", "--version"], capture_output=True, text=True, check=True)
    assert runtimes["runc"] == runc.stdout.split()[2]
    assert engines.libseccomp.value is not None
    assert engines.libseccomp.value in runc.stdout  # runc prints the libseccomp it links


def test_engine_this_machine_cannot_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `docker` printing an old release's banner: the only way to show Docker 19.03
    here (no such engine can be installed); everything else about the lookup is real."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text("#!/bin/sh\necho 'Docker version 19.03.15, build 99e3ed8'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    engines = collect_host().engines.engines.value or []
    docker = next(t for t in engines if t.name == "docker")
    assert (docker.path, docker.version.value) == (str(fake), "19.03.15")


def test_engines_under_root_are_not_executed(tmp_path: Path) -> None:
    root = write(tmp_path / "root", {"/usr/lib64/libseccomp.so.2.3.1": b"\x7fELF"})
    engines = collect_host(root).engines
    assert engines.engines.unknown == "tools are not run under --root"
    assert (engines.libseccomp.value, engines.libseccomp.source) == (
        "2.3.1",
        "file name /usr/lib64/libseccomp.so.2.3.1",
    )


def test_fabricated_modules_and_nvidia(tmp_path: Path) -> None:
    root = write(
        tmp_path / "root",
        {
            "/proc/sys/kernel/osrelease": "5.15.0-91-generic\n",
            "/proc/modules": "overlay 151552 2 - Live 0x0\nnvidia 56512512 30 - Live 0x0\n"
            "br_netfilter 32768 0 - Live 0x0\n",
            "/lib/modules/5.15.0-91-generic/modules.builtin": "kernel/net/netfilter/nf_tables.ko\n",
            "/proc/driver/nvidia/version": (
                "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19"
                " 01:15:15 UTC 2023\nGCC version:  gcc version 11.4.0\n"
            ),
        },
    )
    host = collect_host(root)
    assert host.kernel.modules.value == {
        "overlay": "loaded",
        "nf_tables": "builtin",
        "br_netfilter": "loaded",
        "nvidia": "loaded",
    }
    assert host.gpu.nvidia_driver.value == "535.104.05"
    assert host.gpu.compute_capability.unknown == "nvidia-smi is not available here"


def test_this_machine_without_a_gpu() -> None:
    gpu = collect_host().gpu
    if Path("/proc/driver/nvidia/version").exists():
        assert gpu.nvidia_driver.value is not None
    else:
        assert gpu.nvidia_driver.value is None and gpu.nvidia_driver.unknown


def test_containers_conf_layers_under_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(
        tmp_path / "root",
        {
            "/usr/share/containers/containers.conf": (
                '[containers]\ndefault_ulimits = ["nofile=1048576:1048576"]\n'
                '[engine]\nruntime = "crun"\n'
            ),
            "/etc/containers/containers.conf": '[engine]\nruntime = "runc"\n',
            "/etc/containers/containers.conf.d/50-ulimits.conf": (
                '[containers]\ndefault_ulimits = ["nofile=4096:4096"]\n'
            ),
            "/etc/containers/storage.conf": '[storage]\ndriver = "vfs"\n',
        },
    )
    # the collector's own environment must not leak into another host's facts
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "nowhere.conf"))
    engines = collect_host(root).engines
    assert engines.default_runtime.value == "runc"
    assert engines.default_ulimits.value == ["nofile=4096:4096"]
    assert engines.default_ulimits.source == (
        "containers.conf (/usr/share/containers/containers.conf, "
        "/etc/containers/containers.conf, /etc/containers/containers.conf.d/50-ulimits.conf)"
    )
    assert engines.storage_driver.value == "vfs"


@pytest.mark.parametrize(
    ("output", "backend"),
    [
        ("iptables v1.8.9 (nf_tables)", "nf_tables"),
        ("iptables v1.8.4 (legacy)", "legacy"),
        ("iptables v1.4.21", "legacy"),  # RHEL 7: before the nft back end existed
        ("something else", None),
    ],
)
def test_iptables_backend(output: str, backend: str | None) -> None:
    assert parse_iptables_backend(output) == backend


def test_iptables_backend_on_this_machine() -> None:
    done = subprocess.run(["iptables", "--version"], capture_output=True, text=True, check=True)
    assert collect_host().engines.iptables_backend.value == parse_iptables_backend(done.stdout)


def test_catalog_cli() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "portwise", "hosts"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "ubuntu-20.04-docker-20.10.9" in listed and "rhel-7.9" in listed
    shown = subprocess.run(
        [sys.executable, "-m", "portwise", "host", "show", "rhel-7.9", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    engines = json.loads(shown.stdout)["engines"]["engines"]["value"]
    assert [e["version"]["value"] for e in engines] == ["1.13.1"]
    missing = subprocess.run(
        [sys.executable, "-m", "portwise", "host", "show", "nope"], capture_output=True, text=True
    )
    assert missing.returncode == 64 and "no catalog host named 'nope'" in missing.stderr


def test_podman_seccomp_profile_recognised_by_content(tmp_path: Path) -> None:
    """Debian's containers-common ships the released profile file: named by its sha256."""
    shipped = Path("/usr/share/containers/seccomp.json").read_bytes()
    root = write(tmp_path / "root", {"/usr/share/containers/seccomp.json": shipped})
    fact = collect_host(root).engines.seccomp_profile
    assert fact.value is not None and fact.value.startswith("podman-common-")
    assert fact.source == "sha256 of /usr/share/containers/seccomp.json"
    custom = write(
        tmp_path / "custom",
        {
            "/usr/share/containers/seccomp.json": shipped + b"\n",
            "/etc/containers/containers.conf": '[containers]\nseccomp_profile = "/etc/mine.json"\n',
            "/etc/mine.json": b"{}",
        },
    )
    fact = collect_host(custom).engines.seccomp_profile
    assert fact.value is None and fact.unknown is not None
    assert fact.unknown.startswith("/etc/mine.json (sha256 ") and "custom profile" in fact.unknown


def test_docker_version_picks_its_built_in_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in dockerd 20.10.9 (the installed one is 20.10.24); no podman on PATH. The
    version must come from the daemon: a docker client alone runs no containers here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dockerd").write_text("#!/bin/sh\necho 'Docker version 20.10.9, build 79ea9d3'\n")
    (bin_dir / "dockerd").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(
        "shutil.which", lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None
    )
    fact = collect_host().engines.seccomp_profile
    assert fact.value == "docker-20.10.9"
    assert fact.source is not None and fact.source.startswith("docker 20.10.9:")


def test_storage_filesystem_under_root(tmp_path: Path) -> None:
    root = write(
        tmp_path / "root",
        {
            "/proc/mounts": "/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /var/lib/containers xfs rw 0 0\n"
            "/dev/sdc1 /var/lib/containers-other ext4 rw 0 0\n",
            "/etc/containers/storage.conf": '[storage]\ndriver = "overlay"\n',
        },
    )
    fact = collect_host(root).engines.storage_filesystem
    assert fact.value == "xfs"
    assert (
        fact.source is not None
        and "is on /var/lib/containers (xfs: overlay needs ftype=1" in fact.source
    )


def test_docker_daemon_json_seccomp_profile(tmp_path: Path) -> None:
    """dockerd's `seccomp-profile` replaces the built-in one: named by content, or unconfined."""
    shipped = Path("/usr/share/containers/seccomp.json").read_bytes()
    root = write(
        tmp_path / "root",
        {
            "/etc/docker/daemon.json": '{"seccomp-profile": "/etc/docker/seccomp.json"}',
            "/etc/docker/seccomp.json": shipped,
        },
    )
    fact = collect_host(root).engines.seccomp_profile
    assert fact.value is not None and fact.value.startswith("podman-common-")
    open_root = write(
        tmp_path / "open",
        {
            "/etc/docker/daemon.json": '{"seccomp-profile": "unconfined"}',
            "/proc/sys/kernel/arch": "x86_64\n",
        },
    )
    host = collect_host(open_root)
    assert host.engines.seccomp_profile.value == "unconfined"

    rows = seccomp_table(host)
    assert rows is not None and {d.action for _, d in rows} == {"allow"}


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("naming   =version 2              bsize=4096   ascii-ci=0, ftype=1\n", True),
        ("naming   =version 2              bsize=4096   ascii-ci=0 ftype=0\n", False),
        ("naming   =version 2              bsize=4096   ascii-ci=0\n", None),  # old xfsprogs
        ("", None),
    ],
)
def test_parse_xfs_ftype(output: str, expected: bool | None) -> None:
    assert parse_xfs_ftype(output) is expected


def test_count_rules() -> None:
    saved = (
        "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n"
        "-A FORWARD -j DOCKER-USER\n-A DOCKER -d 172.17.0.2/32 -j ACCEPT\nCOMMIT\n"
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE\nCOMMIT\n"
    )
    assert count_rules(saved) == 3
    assert count_rules("") == 0


def _storage_root(tmp_path: Path, fstype: str) -> Path:
    return write(
        tmp_path / fstype,
        {
            "/proc/mounts": "/dev/sda1 / ext4 rw 0 0\n"
            f"/dev/sdb1 /var/lib/containers {fstype} rw 0 0\n",
            "/etc/containers/storage.conf": '[storage]\ndriver = "overlay"\n',
        },
    )


def test_storage_d_type_by_filesystem(tmp_path: Path) -> None:
    ext4 = collect_host(_storage_root(tmp_path, "ext4")).engines.storage_d_type
    assert ext4.value is True and ext4.source is not None and "/var/lib/containers" in ext4.source
    xfs = collect_host(_storage_root(tmp_path, "xfs")).engines.storage_d_type
    assert xfs.value is None and "--root" in (xfs.unknown or "")
    vfat = collect_host(_storage_root(tmp_path, "vfat")).engines.storage_d_type
    assert vfat.value is None and "vfat" in (vfat.unknown or "")
    bare = collect_host(write(tmp_path / "bare", {"/etc/hostname": "x\n"})).engines
    assert bare.storage_d_type.value is None and bare.storage_d_type.unknown
    assert bare.iptables_rules.unknown == "tools are not run under --root"


def test_storage_d_type_and_iptables_rules_on_this_machine() -> None:
    engines = collect_host(Path("/")).engines
    d_type = engines.storage_d_type
    assert (d_type.value is not None and d_type.source) or d_type.unknown
    rules = engines.iptables_rules
    tools = {b: shutil.which(t) for b, t in IPTABLES_SAVE.items()}
    if os.geteuid() != 0 or not any(tools.values()):
        assert rules.value is None and rules.unknown
        return
    assert rules.value is not None and rules.source
    for backend, path in tools.items():
        if path is None:
            assert backend not in rules.value
            continue
        saved = subprocess.run([path], capture_output=True, text=True, check=True).stdout
        assert rules.value[backend] == sum(1 for ln in saved.splitlines() if ln.startswith("-A "))


def test_this_machine_records_the_feature_switches() -> None:
    """The options, sysctls and LSM list rules/features reads, each as this kernel has them."""
    host = collect_host()
    config = host.kernel.config.value
    if config is not None:
        with (
            gzip.open("/proc/config.gz", "rt")
            if Path("/proc/config.gz").exists()
            else open(f"/boot/config-{platform.release()}") as handle
        ):
            text = handle.read()
        for option in ("CONFIG_IO_URING", "CONFIG_KEYS", "CONFIG_USERFAULTFD", "CONFIG_KCMP"):
            if f"{option}=y" in text:
                assert config[option] == "y"
    for name in ("kernel.io_uring_disabled", "vm.unprivileged_userfaultfd"):
        path = Path("/proc/sys") / name.replace(".", "/")
        fact = host.security.sysctls[name]
        if path.exists():
            assert fact.value == path.read_text().strip()
        else:
            assert fact.unknown == f"{path} does not exist"
    lsms = host.security.lsms
    securityfs = Path("/sys/kernel/security/lsm")
    if securityfs.exists():
        assert lsms.value == securityfs.read_text().strip().split(",")
    elif "lsm=" not in Path("/proc/cmdline").read_text() and config and "CONFIG_LSM" in config:
        assert lsms.value == config["CONFIG_LSM"].split(",")
        assert lsms.source and lsms.source.startswith("kernel config CONFIG_LSM")
    else:
        assert lsms.value is not None or lsms.unknown


FEATURE_HOST = {
    "/proc/sys/kernel/osrelease": "6.8.0-31-generic\n",
    "/proc/sys/kernel/io_uring_disabled": "2\n",
    "/proc/sys/vm/unprivileged_userfaultfd": "0\n",
    "/proc/config.gz": gzip.compress(
        b"CONFIG_IO_URING=y\n# CONFIG_KEYS is not set\nCONFIG_SECURITY_LANDLOCK=y\n"
        b'CONFIG_LSM="landlock,lockdown,yama,integrity,apparmor"\nCONFIG_KCMP=y\n'
    ),
}


@pytest.mark.parametrize(
    ("extra", "lsms", "source"),
    [
        ({"/sys/kernel/security/lsm": "capability,lockdown,yama,apparmor"}, "securityfs", None),
        ({"/proc/cmdline": "ro quiet lsm=lockdown,yama,apparmor\n"}, "cmdline", None),
        ({"/proc/cmdline": "ro quiet\n"}, "config", None),
        ({"/proc/cmdline": "ro quiet security=selinux\n"}, None, "security=selinux"),
    ],
)
def test_fabricated_feature_switches(
    tmp_path: Path, extra: dict[str, str], lsms: str | None, source: str | None
) -> None:
    root = write(tmp_path / "root", {**FEATURE_HOST, **extra})
    host = collect_host(root)
    config = host.kernel.config.value or {}
    assert config["CONFIG_KEYS"] == "n" and config["CONFIG_SECURITY_LANDLOCK"] == "y"
    assert config["CONFIG_LSM"] == "landlock,lockdown,yama,integrity,apparmor"
    assert host.security.sysctls["kernel.io_uring_disabled"].value == "2"
    assert host.security.sysctls["vm.unprivileged_userfaultfd"].value == "0"
    missing = host.security.sysctls["kernel.unprivileged_bpf_disabled"]
    assert missing.unknown == "/proc/sys/kernel/unprivileged_bpf_disabled does not exist"
    expected = {
        "securityfs": (
            ["capability", "lockdown", "yama", "apparmor"],
            "file /sys/kernel/security/lsm",
        ),
        "cmdline": (["lockdown", "yama", "apparmor"], "file /proc/cmdline lsm="),
        "config": (
            ["landlock", "lockdown", "yama", "integrity", "apparmor"],
            "kernel config CONFIG_LSM (file /proc/config.gz); no lsm= on /proc/cmdline",
        ),
    }
    fact = host.security.lsms
    if lsms is None:
        assert fact.value is None and source is not None and source in (fact.unknown or "")
    else:
        assert (fact.value, fact.source) == expected[lsms]


def test_a_root_without_proc_sys_does_not_say_a_sysctl_does_not_exist(tmp_path: Path) -> None:
    """Rules read "does not exist" as "this kernel has no such switch": only true when /proc/sys
    is there to look in."""
    root = write(tmp_path / "root", {"/etc/os-release": "ID=debian\n"})
    fact = collect_host(root).security.sysctls["kernel.io_uring_disabled"]
    assert fact.value is None and fact.unknown is not None
    assert "does not exist" not in fact.unknown and "not mounted" in fact.unknown


def test_retired_facts_in_an_older_host_document_still_load() -> None:
    """apparmor (the active LSM list says it) and cpu vendor (the flags decide the level) are
    judged by no rule and were retired; a host JSON written before still loads."""
    data = json.loads(collect_host().model_dump_json())
    data["security"]["apparmor"] = {"value": True, "source": "file /sys/module/apparmor"}
    data["cpu"]["vendor"] = {"value": "GenuineIntel", "source": "file /proc/cpuinfo"}
    loaded = HostProfile.model_validate(data)
    assert "apparmor" not in loaded.security.model_dump()
    assert "vendor" not in loaded.cpu.model_dump()
