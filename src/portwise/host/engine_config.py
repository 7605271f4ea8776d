"""What podman (containers-common) is configured to do: seccomp profile, ulimits, runtime, storage.

containers.conf(5): later files override earlier ones, in this order: the vendor file under
/usr/share/containers, the admin file under /etc/containers, then its .d directory, then
$CONTAINERS_CONF. storage.conf(5) likewise for the storage driver.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from portwise.host.files import HostFiles, Unreadable
from portwise.model.host import Fact

CONF_FILES = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")
CONF_DIR = "/etc/containers/containers.conf.d"
STORAGE_FILES = ("/usr/share/containers/storage.conf", "/etc/containers/storage.conf")
DEFAULT_SECCOMP = "/usr/share/containers/seccomp.json"


def merge_toml(layers: list[tuple[str, str]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Table-by-table override, as containers-common does; returns (settings, files used)."""
    merged: dict[str, dict[str, Any]] = {}
    used = []
    for path, text in layers:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            continue  # an unreadable file is skipped by podman too (it then fails loudly)
        used.append(path)
        for table, values in document.items():
            if isinstance(values, dict):
                merged.setdefault(table, {}).update(values)
    return merged, used


def _layers(files: HostFiles, paths: list[str]) -> list[tuple[str, str]]:
    found = []
    for path in paths:
        try:
            found.append((path, files.read_text(path)))
        except Unreadable:
            continue
    return found


def _env_override(files: HostFiles, variable: str) -> list[tuple[str, str]]:
    """The file an environment variable names, on a live host only (it is this process's)."""
    path = os.environ.get(variable) if files.is_live else None
    if not path:
        return []
    try:
        return [(path, Path(path).read_text(encoding="utf-8"))]
    except OSError:
        return []


def containers_conf(files: HostFiles) -> tuple[dict[str, dict[str, Any]], list[str]]:
    paths = list(CONF_FILES)
    directory = files.resolve(CONF_DIR)
    if directory.is_dir():
        paths += [f"{CONF_DIR}/{p.name}" for p in sorted(directory.glob("*.conf"))]
    return merge_toml(_layers(files, paths) + _env_override(files, "CONTAINERS_CONF"))


DEFAULT_GRAPHROOT = "/var/lib/containers/storage"


def mount_of(mounts: str, path: str) -> tuple[str, str] | None:
    """(mount point, filesystem type) of the longest mount point containing `path`."""
    best: tuple[str, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, fields[2])
    return best


def storage_conf(files: HostFiles) -> tuple[dict[str, Any], list[str]]:
    """storage.conf's [storage] table (vendor, admin, then $CONTAINERS_STORAGE_CONF)."""
    layers = _layers(files, list(STORAGE_FILES))
    settings, used = merge_toml(layers + _env_override(files, "CONTAINERS_STORAGE_CONF"))
    return settings.get("storage", {}), used


def storage_mount(files: HostFiles, storage: dict[str, Any]) -> tuple[str, str, str] | str:
    """(graphroot, mount point, filesystem type) of the storage root, or why it is unknown."""
    graphroot = str(storage.get("graphroot") or DEFAULT_GRAPHROOT)
    try:
        found = mount_of(files.read_text("/proc/mounts"), graphroot)
    except Unreadable as exc:
        return exc.reason
    if found is None:
        return f"no mount contains {graphroot}"
    return (graphroot, *found)


def storage_filesystem(mount: tuple[str, str, str] | str) -> Fact[str]:
    if isinstance(mount, str):
        return Fact.missing(mount)
    graphroot, point, fstype = mount
    note = (
        " (xfs: overlay needs ftype=1, which /proc/mounts does not show)" if fstype == "xfs" else ""
    )
    return Fact.of(fstype, f"file /proc/mounts: {graphroot} is on {point}{note}")


# Filesystems whose directory entries always carry the file type (d_type) on Linux; ext4 only
# lacks it when made with -O ^filetype, which mkfs.ext4 never does by default.
D_TYPE_ALWAYS = frozenset({"ext4", "btrfs", "tmpfs"})
TIMEOUT_S = 10


def parse_xfs_ftype(xfs_info_output: str) -> bool | None:
    """`naming =version 2 bsize=4096 ascii-ci=0, ftype=1` -> True; no ftype field -> None."""
    match = re.search(r"\bftype=([01])\b", xfs_info_output)
    return match.group(1) == "1" if match else None


def storage_d_type(files: HostFiles, mount: tuple[str, str, str] | str) -> Fact[bool]:
    """Whether overlay's backing filesystem records d_type: known for some filesystems by
    type, for xfs only from xfs_info's ftype (a live host with xfsprogs); otherwise unknown."""
    if isinstance(mount, str):
        return Fact.missing(mount)
    graphroot, point, fstype = mount
    if fstype in D_TYPE_ALWAYS:
        return Fact.of(
            True, f"file /proc/mounts: {graphroot} is on {point}, {fstype} (records d_type)"
        )
    if fstype != "xfs":
        return Fact.missing(f"{graphroot} is on {fstype}: its d_type support is not known here")
    if not files.is_live:
        return Fact.missing("xfs: ftype needs xfs_info, and tools are not run under --root")
    tool = shutil.which("xfs_info")
    if tool is None:
        return Fact.missing("xfs: ftype unknown without xfs_info (xfsprogs)")
    try:
        done = subprocess.run(
            [tool, point], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Fact.missing(f"xfs_info {point} failed: {exc}")
    ftype = parse_xfs_ftype(done.stdout)
    if ftype is None:
        return Fact.missing(f"xfs_info {point} printed no ftype (exit {done.returncode})")
    return Fact.of(ftype, f"xfs_info {point}: ftype={int(ftype)}")


def storage_driver(storage: dict[str, Any], used: list[str]) -> Fact[str]:
    driver = storage.get("driver")
    if driver:
        return Fact.of(str(driver), f"storage.conf ({', '.join(used)})")
    return Fact.missing("no storage.conf names a driver")


def podman_seccomp_file(files: HostFiles, settings: dict[str, dict[str, Any]]) -> str:
    return str(settings.get("containers", {}).get("seccomp_profile") or DEFAULT_SECCOMP)


def profile_by_content(files: HostFiles, path: str, known: dict[str, str]) -> Fact[str]:
    """Name the profile file by its sha256 among the released profiles (`known`: sha -> name)."""
    try:
        digest = hashlib.sha256(files.read_bytes(path)).hexdigest()
    except Unreadable as exc:
        return Fact.missing(exc.reason)
    name = known.get(digest)
    if name is None:
        return Fact.missing(
            f"{path} (sha256 {digest[:12]}) matches no released default profile: a custom profile"
        )
    return Fact.of(name, f"sha256 of {path}")


DOCKER_DAEMON_JSON = "/etc/docker/daemon.json"


def docker_daemon_config(files: HostFiles) -> tuple[dict[str, Any], str | None]:
    """/etc/docker/daemon.json (dockerd's settings file); ({}, None) when absent or unreadable."""
    try:
        document = json.loads(files.read_text(DOCKER_DAEMON_JSON))
    except (Unreadable, json.JSONDecodeError):
        return {}, None
    return (document, DOCKER_DAEMON_JSON) if isinstance(document, dict) else ({}, None)
