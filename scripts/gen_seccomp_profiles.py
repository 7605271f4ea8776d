#!/usr/bin/env python3
"""Regenerate src/portwise/knowledge/seccomp/profiles.json from public sources.

Profiles: the container engines' default seccomp profiles as released, from a local copy whose
README.md table names, per file, the repository, release tag, commit and path (by default
/work/shared/knowledge/seccomp-profiles: moby/moby profiles/seccomp/default.json and
containers/common pkg/seccomp/seccomp.json). Each profile is stored normalised (rules in their
order, with names, action, errno, argument filters, includes/excludes) with its source URL at the
commit and the SHA-256 of the file it was derived from.

libseccomp: which release first resolves each profile-named syscall to a real number, per
architecture, read from a git copy of github.com/seccomp/libseccomp at every release tag
(src/arch-*-syscalls.c up to 2.4.x, src/syscalls.csv from 2.5.0). Without --libseccomp the block
already in the data file is kept.

  scripts/gen_seccomp_profiles.py [--profiles DIR] [--libseccomp DIR.git]

Default capability sets (which rules with includes/excludes.caps apply) are fixed below with their
sources; they are engine defaults, not derived from the profiles.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "src/portwise/knowledge/seccomp/profiles.json"
PROFILES = Path("/work/shared/knowledge/seccomp-profiles")
ACTIONS = {
    "SCMP_ACT_ALLOW": "allow",
    "SCMP_ACT_ERRNO": "errno",
    "SCMP_ACT_KILL": "kill",
    "SCMP_ACT_KILL_THREAD": "kill",
    "SCMP_ACT_KILL_PROCESS": "kill",
    "SCMP_ACT_TRAP": "trap",
    "SCMP_ACT_LOG": "log",
    "SCMP_ACT_TRACE": "trace",
}
# portwise arch -> libseccomp's table column / arch-<name>-syscalls.c
LIBSECCOMP_ARCH = {
    "x86-64": "x86_64", "aarch64": "aarch64", "i386": "x86", "arm": "arm",
    "ppc64le": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
}  # fmt: skip
DEFAULT_CAPS = {
    "docker": {
        "caps": [
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETFCAP",
            "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_KILL",
            "CAP_AUDIT_WRITE",
        ],
        "source": "https://github.com/moby/moby/blob/10866714412aea1bb587d1ad14b2ce1ba4cf4308/"
        "oci/caps/defaults.go",
        "note": "stable across docker 17.03-29.x as far as checked; only that commit was read",
    },
    "podman-common": {
        "caps": [
            "CAP_AUDIT_WRITE",
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_MKNOD",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_RAW",
            "CAP_SETFCAP",
            "CAP_SETGID",
            "CAP_SETPCAP",
            "CAP_SETUID",
            "CAP_SYS_CHROOT",
        ],
        "source": "https://github.com/containers/common/blob/"
        "08c121d9a90ee3074e3faf58087f488ebe6f9a4f/pkg/config/default.go",
        "note": "unverified per release: a distribution's containers.conf may drop "
        "CAP_AUDIT_WRITE, CAP_MKNOD and CAP_NET_RAW; with this profile only CAP_AUDIT_WRITE "
        "changes a decision (socket: allowed outright vs. allowed unless NETLINK_AUDIT)",
    },
}
ROW = re.compile(
    r"^\|\s*(\S+\.json)\s*\|([^|]*)\|([^|]*)\|\s*([0-9a-f]{7,40})\s*\|([^|]*)\|([^|]*)\|"
)
C_ENTRY = re.compile(r'\{\s*"(\w+)",\s*([^}]*)\}')


def _args(raw: Any) -> list[list[Any]]:
    """[index, op, value, valueTwo] per argument filter: short, and still the profile's terms."""
    return [[a["index"], a["op"], a["value"], a.get("valueTwo", 0)] for a in raw or []]


def _cond(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("arches", "caps", "minKernel"):
        if raw and raw.get(key):
            out[key] = raw[key]
    return out


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """Keep what decides an action; drop comments and the long-form errno names."""
    rules = []
    for rule in doc["syscalls"]:
        names = rule.get("names") or [rule["name"]]
        entry: dict[str, Any] = {"names": names, "action": ACTIONS[rule["action"]]}
        if "errnoRet" in rule:
            entry["errnoRet"] = rule["errnoRet"]
        for key, value in (
            ("args", _args(rule.get("args"))),
            ("includes", _cond(rule.get("includes"))),
            ("excludes", _cond(rule.get("excludes"))),
        ):
            if value:
                entry[key] = value
        rules.append(entry)
    return {
        "defaultAction": ACTIONS[doc["defaultAction"]],
        "defaultErrnoRet": doc.get("defaultErrnoRet"),
        "archMap": {a["architecture"]: a.get("subArchitectures") or [] for a in doc["archMap"]},
        "rules": rules,
    }


def profiles(src: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in (src / "README.md").read_text().splitlines():
        m = ROW.match(line)
        if not m:
            continue
        file, repo, tag, commit, date, path = (g.strip() for g in m.groups())
        repo = repo.split()[0]
        raw = (src / file).read_bytes()
        name = file.removesuffix(".json")
        engine, _, version = name.rpartition("-")
        out[name] = {
            "engine": engine,
            "version": version,
            "repository": repo,
            "tag": tag,
            "commit": commit,
            "date": date,
            "path": path,
            "source": f"https://github.com/{repo}/blob/{commit}/{path}",
            "sha256": hashlib.sha256(raw).hexdigest(),
            **normalise(json.loads(raw)),
        }
    if len(out) != len(list(src.glob("*.json"))):
        raise SystemExit("README.md table and profile files disagree")
    return out


def _vkey(tag: str) -> tuple[int, ...]:
    return tuple(int(p) for p in tag.lstrip("v").split("."))


def _git(gitdir: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", gitdir, *args], check=True, capture_output=True, text=True
    ).stdout


def _known(gitdir: str, tag: str) -> dict[str, set[str]]:
    """arch -> names this libseccomp release resolves to a real number (not a __PNR_ pseudo)."""
    files = set(_git(gitdir, "ls-tree", "--name-only", f"{tag}:src").split())
    out: dict[str, set[str]] = {}
    if "syscalls.csv" in files:
        rows = list(csv.reader(io.StringIO(_git(gitdir, "show", f"{tag}:src/syscalls.csv"))))
        head = rows[0]
        for arch, col in LIBSECCOMP_ARCH.items():
            if col in head:
                i = head.index(col)
                out[arch] = {r[0] for r in rows[1:] if r[i].isdigit()}
        return out
    for arch, col in LIBSECCOMP_ARCH.items():
        if f"arch-{col}-syscalls.c" in files:
            text = _git(gitdir, "show", f"{tag}:src/arch-{col}-syscalls.c")
            out[arch] = {n for n, v in C_ENTRY.findall(text) if "PNR" not in v}
    return out


def libseccomp(gitdir: str, names: set[str]) -> dict[str, Any]:
    tags = sorted(
        (t for t in _git(gitdir, "tag").split() if re.fullmatch(r"v2\.\d+\.\d+", t)), key=_vkey
    )
    tags = [t for t in tags if _vkey(t) >= (2, 2, 0)]
    per_tag = {t: _known(gitdir, t) for t in tags}
    first: dict[str, dict[str, str]] = {}
    for name in sorted(names):
        for arch in LIBSECCOMP_ARCH:
            seen = [t for t in tags if name in per_tag[t].get(arch, set())]
            # only a name its newest release knows; recorded when an older release lacked it
            if seen and name in per_tag[tags[-1]].get(arch, set()) and seen[0] != tags[0]:
                first.setdefault(name, {})[arch] = seen[0].lstrip("v")
    return {
        "source": {
            "url": "https://github.com/seccomp/libseccomp",
            "files": "src/arch-*-syscalls.c (<= 2.4.x), src/syscalls.csv (>= 2.5.0)",
            "tags": {
                t.lstrip("v"): _git(gitdir, "rev-parse", f"{t}^{{commit}}").strip() for t in tags
            },
            "changelog": "https://github.com/seccomp/libseccomp/blob/"
            f"{_git(gitdir, 'rev-parse', tags[-1] + '^{commit}').strip()}/CHANGELOG",
        },
        "floor": tags[0].lstrip("v"),
        "note": "known = resolves to a real number for that architecture at that release tag; "
        "names absent here are known by every release from the floor on (or never)",
        "first_known": first,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=Path, default=PROFILES)
    ap.add_argument("--libseccomp", help="git directory of github.com/seccomp/libseccomp")
    opts = ap.parse_args()
    profs = profiles(opts.profiles)
    names = {n for p in profs.values() for r in p["rules"] for n in r["names"]}
    if opts.libseccomp:
        lib = libseccomp(opts.libseccomp, names)
    else:
        lib = json.loads(OUT.read_text())["libseccomp"]
    body = {"profiles": profs, "default_caps": DEFAULT_CAPS, "libseccomp": lib}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    doc = {
        "schema": 1,
        "generated_by": "scripts/gen_seccomp_profiles.py",
        "data_version": f"1+{digest}",
        "runc": {
            "enosys_stub": "https://github.com/opencontainers/runc/pull/2750",
            "native_arch_always": "https://github.com/opencontainers/runc/pull/4391",
            "errno_without_errnoRet_is_EPERM": "https://github.com/opencontainers/runc/blob/"
            "76d9cf5da/libcontainer/seccomp/seccomp_linux.go (getAction)",
        },
        **body,
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT}: {len(profs)} profiles, {len(lib['first_known'])} libseccomp entries")


if __name__ == "__main__":
    main()
