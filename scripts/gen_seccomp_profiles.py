#!/usr/bin/env python3
"""Regenerate src/portwise/knowledge/seccomp/profiles.json from public sources.

Profiles: the container engines' default seccomp profiles as released, from a local copy whose
README.md table names, per file, the repository, release tag, commit and path (by default
/work/shared/knowledge/seccomp-profiles: moby/moby profiles/seccomp/default.json and
containers/common pkg/seccomp/seccomp.json). Each profile is stored normalised (rules in their
order, with names, action, errno, argument filters, includes/excludes) with its source URL at the
commit and the SHA-256 of the file it was derived from.

containerd: its CRI default ("runtime/default") profile is Go code, not a JSON file
(contrib/seccomp/seccomp_default.go, DefaultProfile). With --containerd DIR.git (a git copy of
github.com/containerd/containerd) the function is read at every release tag from 1.4.0 on where
it changed, and its rules are transcribed into the same shape: `switch runtime.GOARCH` cases become
includes.arches (its `default:` excludes the other cases), `case "CAP_X"` in the loop over the
bounding set becomes includes.caps, `if !admin` becomes excludes.caps CAP_SYS_ADMIN, and the kernel
version check becomes includes.minKernel. Without --containerd the containerd profiles already in
the data file are kept.

libseccomp: which release first resolves each profile-named syscall to a real number, per
architecture, read from a git copy of github.com/seccomp/libseccomp at every release tag
(src/arch-*-syscalls.c up to 2.4.x, src/syscalls.csv from 2.5.0). Without --libseccomp the block
already in the data file is kept.

  scripts/gen_seccomp_profiles.py [--profiles DIR] [--libseccomp DIR.git] [--containerd DIR.git]

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
DEFAULT_CAPS["containerd"] = {
    "caps": list(DEFAULT_CAPS["docker"]["caps"]),
    "source": "https://github.com/containerd/containerd/blob/"
    "1c4457e00facac03ce1d75f7b6777a7a851e5c41/pkg/oci/spec.go",
    "note": "defaultUnixCaps(); the same 14 capabilities at v1.4.10 (oci/spec.go) and v2.2.0 "
    "(pkg/oci/spec.go); CRI adds or drops from them per the pod's securityContext",
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


CONTAINERD_PATH = "contrib/seccomp/seccomp_default.go"
CONTAINERD_FLOOR = (1, 4, 0)
# Linux UAPI values the Go source names through golang.org/x/sys/unix: include/uapi/linux/sched.h
# (CLONE_NEW*), include/linux/socket.h (AF_*), include/uapi/asm-generic/errno.h (ENOSYS).
GO_CONSTANTS = {
    "unix.CLONE_NEWNS": 0x00020000,
    "unix.CLONE_NEWCGROUP": 0x02000000,
    "unix.CLONE_NEWUTS": 0x04000000,
    "unix.CLONE_NEWIPC": 0x08000000,
    "unix.CLONE_NEWUSER": 0x10000000,
    "unix.CLONE_NEWPID": 0x20000000,
    "unix.CLONE_NEWNET": 0x40000000,
    "unix.AF_ALG": 38,
    "unix.AF_VSOCK": 40,
}
ENOSYS = 38
GO_OPS = {
    "OpNotEqual": "SCMP_CMP_NE",
    "OpLessThan": "SCMP_CMP_LT",
    "OpLessEqual": "SCMP_CMP_LE",
    "OpEqualTo": "SCMP_CMP_EQ",
    "OpGreaterEqual": "SCMP_CMP_GE",
    "OpGreaterThan": "SCMP_CMP_GT",
    "OpMaskedEqual": "SCMP_CMP_MASKED_EQ",
}
GO_ACTIONS = {
    "ActAllow": "allow", "ActErrno": "errno", "ActKill": "kill", "ActKillThread": "kill",
    "ActKillProcess": "kill", "ActTrap": "trap", "ActLog": "log", "ActTrace": "trace",
}  # fmt: skip
# runtime.GOARCH -> the arch names docker-format profiles use in includes/excludes.arches
GOARCH_NAMES = {"386": "x86"}
# runtime.GOARCH -> its own libseccomp arch (the first key of an archMap entry)
GOARCH_SCMP = {
    "amd64": "X86_64", "arm64": "AARCH64", "s390x": "S390X", "riscv64": "RISCV64",
    "loong64": "LOONGARCH64", "mips64": "MIPS64", "mips64n32": "MIPS64N32",
    "mipsel64": "MIPSEL64", "mipsel64n32": "MIPSEL64N32", "ppc64le": "PPC64LE",
}  # fmt: skip
_KERNEL_CHECK = re.compile(
    r"if ok, err := kernelversion\.GreaterEqualThan\(\s*"
    r"kernelversion\.KernelVersion\{Kernel:\s*(\d+),\s*Major:\s*(\d+)\}\);\s*err == nil \{"
)
_STRING = re.compile(r'"([^"]*)"')


def _go_value(expr: str) -> int:
    """An argument value: a literal, a unix.* constant, or those joined by | or +."""
    expr = expr.strip().rstrip(",")
    if "|" in expr:
        out = 0
        for part in expr.split("|"):
            out |= _go_value(part)
        return out
    if "+" in expr:
        return sum(_go_value(part) for part in expr.split("+"))
    if expr in GO_CONSTANTS:
        return GO_CONSTANTS[expr]
    return int(expr, 0)


def _go_arch_map(head: str) -> dict[str, list[str]]:
    """arches(): per GOARCH the libseccomp arches the profile lists; the GOARCH's own first."""
    out: dict[str, list[str]] = {}
    for goarch, listed in re.findall(r'case "(\w+)":\s*return \[\]specs\.Arch\{([^}]*)\}', head):
        arches = [f"SCMP_ARCH_{a}" for a in re.findall(r"specs\.Arch(\w+)", listed)]
        own = f"SCMP_ARCH_{GOARCH_SCMP[goarch]}"
        if own not in arches:
            raise SystemExit(f"arches(): {goarch} does not list {own}")
        out[own] = [a for a in arches if a != own]
    return out


def _merge(conds: list[dict[str, Any]]) -> dict[str, Any]:
    """Nested conditions joined: lists (arches, caps) add up, a minKernel string is kept."""
    out: dict[str, Any] = {}
    for cond in conds:
        for key, values in cond.items():
            if isinstance(values, str):
                out[key] = values
            else:
                out.setdefault(key, []).extend(v for v in values if v not in out.get(key, []))
    return out


def containerd_rules(text: str) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """(archMap, rules) of containerd's DefaultProfile, in the order the function appends them.

    A line-based reading of this one function's regular shape; it refuses (SystemExit) anything
    it does not recognise rather than guess, and checks that every quoted name was taken.
    """
    start = text.index("func DefaultProfile(")
    arch_map = _go_arch_map(text[:start])
    body = _KERNEL_CHECK.sub(r"KERNEL_AT_LEAST \1.\2 {", text[start:])
    if "ErrnoRet: &nosys" in body and "nosys := uint(unix.ENOSYS)" not in body:
        raise SystemExit("ErrnoRet &nosys without nosys := uint(unix.ENOSYS)")
    depth = 0
    # open contexts: (depth inside, kind, condition, condition of the current case)
    frames: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    rule: dict[str, Any] | None = None
    in_names = False
    strings_seen = 0
    for raw in body.splitlines()[1:]:
        code = raw.split("//")[0].strip()
        if not code:
            continue
        new_frame: dict[str, Any] | None = None
        if code.startswith("switch runtime.GOARCH"):
            new_frame = {"kind": "arch", "cond": {}, "case": {}, "seen": []}
        elif code.startswith("for _, c := range sp.Process.Capabilities.Bounding"):
            new_frame = {"kind": "caps", "cond": {}, "case": {}}
        elif code == "if !admin {":
            new_frame = {"kind": "if", "cond": {"excludes": {"caps": ["CAP_SYS_ADMIN"]}}}
        elif code.startswith("KERNEL_AT_LEAST "):
            kernel = code.split()[1]
            new_frame = {"kind": "if", "cond": {"includes": {"minKernel": kernel}}}
        elif code.startswith("case "):
            labels = _STRING.findall(code)
            if all(lbl.startswith("CAP_") for lbl in labels):
                frame = next(f for f in reversed(frames) if f["kind"] == "caps")
                frame["case"] = {"includes": {"caps": labels}}
            else:
                frame = next(f for f in reversed(frames) if f["kind"] == "arch")
                arches = [GOARCH_NAMES.get(lbl, lbl) for lbl in labels]
                frame["seen"] += arches
                frame["case"] = {"includes": {"arches": arches}}
            continue
        elif code == "default:":
            frame = next(f for f in reversed(frames) if f["kind"] == "arch")
            frame["case"] = {"excludes": {"arches": list(frame["seen"])}}
            continue
        if code.startswith("Names:"):
            if rule is not None:
                rules.append(rule)
            conds = [f["cond"] for f in frames] + [f.get("case", {}) for f in frames]
            rule = {
                "names": _STRING.findall(code),
                "includes": _merge([c.get("includes", {}) for c in conds if c]),
                "excludes": _merge([c.get("excludes", {}) for c in conds if c]),
            }
            strings_seen += len(rule["names"])
            in_names = code.endswith("{")
        elif in_names:
            if code.startswith("}"):
                in_names = False
            else:
                assert rule is not None
                found = _STRING.findall(code)
                if len(found) != 1:
                    raise SystemExit(f"unexpected line in a Names list: {raw!r}")
                rule["names"] += found
                strings_seen += 1
        elif rule is not None and code.startswith("Action:"):
            rule["action"] = GO_ACTIONS[code.split("specs.")[1].rstrip(",")]
        elif rule is not None and code.startswith("ErrnoRet:"):
            if code.rstrip(",") != "ErrnoRet: &nosys":
                raise SystemExit(f"unexpected ErrnoRet: {raw!r}")
            rule["errnoRet"] = ENOSYS
        elif rule is not None and code.startswith("Index:"):
            rule.setdefault("args", []).append([int(code.split(":")[1].rstrip(",")), None, 0, 0])
        elif rule is not None and code.startswith(("Value:", "ValueTwo:", "Op:")):
            key, _, expr = code.partition(":")
            arg = rule["args"][-1]
            if key == "Op":
                arg[1] = GO_OPS[expr.strip().rstrip(",").removeprefix("specs.")]
            else:
                arg[2 if key == "Value" else 3] = _go_value(expr)
        elif _STRING.search(code):
            raise SystemExit(f"a quoted string outside a Names list: {raw!r}")
        depth += code.count("{") - code.count("}")
        if new_frame is not None:
            frames.append({"depth": depth, **new_frame})
        while frames and frames[-1]["depth"] > depth:
            frames.pop()
        if depth < 0:
            break  # the end of DefaultProfile
    if rule is not None:
        rules.append(rule)
    out = []
    for r in rules:
        if "action" not in r or any(a[1] is None for a in r.get("args", [])):
            raise SystemExit(f"incomplete rule {r}")
        entry: dict[str, Any] = {"names": r["names"], "action": r["action"]}
        for key in ("errnoRet", "args", "includes", "excludes"):
            if r.get(key):
                entry[key] = r[key]
        out.append(entry)
    if strings_seen != sum(len(r["names"]) for r in out) or not out:
        raise SystemExit("names read and names stored disagree")
    return arch_map, out


def containerd_profiles(gitdir: str) -> dict[str, Any]:
    """One profile per release tag (from 1.4.0) whose DefaultProfile differs from the tag
    before it in the same minor series, so 'the newest profile at or below a version' is exact."""
    tags = sorted(
        (t for t in _git(gitdir, "tag").split() if re.fullmatch(r"v\d+\.\d+\.\d+", t)), key=_vkey
    )
    out: dict[str, Any] = {}
    previous: tuple[tuple[int, ...], str] | None = None
    for tag in tags:
        if _vkey(tag) < CONTAINERD_FLOOR:
            continue
        try:
            blob = _git(gitdir, "rev-parse", f"{tag}:{CONTAINERD_PATH}").strip()
        except subprocess.CalledProcessError:
            continue
        series = _vkey(tag)[:2]
        if previous == (series, blob):
            continue
        previous = (series, blob)
        raw = _git(gitdir, "show", f"{tag}:{CONTAINERD_PATH}")
        commit = _git(gitdir, "rev-parse", f"{tag}^{{commit}}").strip()
        arch_map, rules = containerd_rules(raw)
        version = tag.lstrip("v")
        out[f"containerd-{version}"] = {
            "engine": "containerd",
            "version": version,
            "repository": "containerd/containerd",
            "tag": tag,
            "commit": commit[:12],
            "date": _git(gitdir, "log", "-1", "--format=%cs", commit).strip(),
            "path": CONTAINERD_PATH,
            "source": f"https://github.com/containerd/containerd/blob/{commit[:12]}/"
            f"{CONTAINERD_PATH}",
            "sha256": hashlib.sha256(raw.encode()).hexdigest(),
            "derived": "transcribed from the Go function DefaultProfile by "
            "scripts/gen_seccomp_profiles.py (same content up to the next profile's tag)",
            "defaultAction": "errno",
            "defaultErrnoRet": None,
            "archMap": arch_map,
            "rules": rules,
        }
    return out


def _check_clone_mask(profs: dict[str, Any]) -> None:
    """containerd's CLONE_NEW* mask, computed from the constants above, must be a number that
    moby's JSON profiles write for the same clone rule: two public sources, one value."""

    def masks(engine: str) -> set[int]:
        return {
            a[2]
            for p in profs.values()
            if p["engine"] == engine
            for r in p["rules"]
            if r["names"] == ["clone"]
            for a in r.get("args", [])
            if a[1] == "SCMP_CMP_MASKED_EQ"
        }

    if not masks("containerd") <= masks("docker"):
        raise SystemExit(f"containerd clone masks {masks('containerd')} unknown to docker's")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=Path, default=PROFILES)
    ap.add_argument("--libseccomp", help="git directory of github.com/seccomp/libseccomp")
    ap.add_argument("--containerd", help="git directory of github.com/containerd/containerd")
    opts = ap.parse_args()
    profs = profiles(opts.profiles)
    if opts.containerd:
        profs.update(containerd_profiles(opts.containerd))
    else:
        kept = json.loads(OUT.read_text())["profiles"]
        profs.update({k: v for k, v in kept.items() if v["engine"] == "containerd"})
    _check_clone_mask(profs)
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
