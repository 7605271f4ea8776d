"""`portwise check` and `portwise explain` end to end on a real image: formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portwise", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def trixie(real_images: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The real trixie image, and its profile saved by `portwise scan --json`."""
    cache = tmp_path_factory.mktemp("cache")
    ref = f"oci:{real_images}/oci/debian-trixie-amd64:latest"
    saved = cache / "trixie.json"
    done = run("scan", "--json", ref, "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    saved.write_text(done.stdout)
    return ref, saved


def test_clone3_pair_fails_with_exit_2_and_the_fixed_engine_passes(
    trixie: tuple[str, Path],
) -> None:
    _, saved = trixie
    failing = run("check", str(saved), "--host", "ubuntu-20.04-docker-20.10.9", "-f", "json")
    assert failing.returncode == 2, failing.stderr
    report = json.loads(failing.stdout)
    (verdict,) = report["verdicts"]
    assert verdict["status"] == "FAIL"
    assert "glibc234-clone3" in {i for f in verdict["findings"] for i in f["incidents"]}
    schema = json.loads(run("schema", "verdict").stdout)
    jsonschema.validate(report, schema)


def test_fail_on_risk_turns_a_risk_into_exit_1(trixie: tuple[str, Path], tmp_path: Path) -> None:
    """rhel-7.9 records no seccomp profile for docker 1.13: unknown, so RISK, never PASS."""
    _, saved = trixie
    plain = run("check", str(saved), "--host", "rhel-7.9", "-f", "json")
    statuses = {v["status"] for v in json.loads(plain.stdout)["verdicts"]}
    assert statuses == {"RISK"}
    assert plain.returncode == 0
    strict = run("check", str(saved), "--host", "rhel-7.9", "--fail-on", "risk", "-f", "junit")
    assert strict.returncode == 1
    assert "<failure" in strict.stdout


def test_sarif_to_a_file_and_table_on_stdout(trixie: tuple[str, Path], tmp_path: Path) -> None:
    ref, saved = trixie
    out = tmp_path / "r.sarif"
    done = run(
        "check", str(saved), "--host", "ubuntu-20.04-docker-20.10.9", "-f", "sarif", "-o", str(out)
    )
    assert done.returncode == 2
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    assert any(r["ruleId"] == "seccomp.eperm-no-fallback" for r in sarif["runs"][0]["results"])
    table = run(
        "check", ref, "--host", "ubuntu-20.04-docker-20.10.10", "--cache-dir", str(saved.parent)
    )
    assert "ubuntu-20.04-docker-20.10.10" in table.stdout
    # clone3 is fixed in 20.10.10; fchmodat2 then depends on the runc version, not recorded
    assert "1 pair: 0 FAIL, 1 RISK, 0 PASS" in table.stdout
    assert "runc version" in table.stdout
    assert table.returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--host", "no-such-host"], 64, "unknown host 'no-such-host'"),
        (["--host", "ubuntu-20.04-docker-20.10"], 64, "did you mean ubuntu-20.04-docker-20.10"),
        (["--host", "/nonexistent/host.json"], 65, "does not exist"),
        (["--host", "debian-12", "-f", "yaml"], 64, "unknown --format 'yaml'"),
        (["--host", "debian-12", "--fail-on", "sometimes"], 64, "unknown --fail-on 'sometimes'"),
        (["--host", "debian-12", "--no-such-flag"], 64, "No such option: --no-such-flag"),
        (["--hots", "debian-12"], 64, "No such option: --hots"),
    ],
)
def test_bad_arguments_name_what_was_wrong(
    trixie: tuple[str, Path], args: list[str], code: int, message: str
) -> None:
    """A misspelled flag or host is a usage error (64), a missing file an input error (65):
    never the 2 of a FAIL verdict."""
    done = run("check", str(trixie[1]), *args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_bad_profile_files_are_refused_with_their_path(tmp_path: Path) -> None:
    bad_image = tmp_path / "image.json"
    bad_image.write_text('{"reference": "x"}')
    done = run("check", str(bad_image), "--host", "debian-12")
    assert done.returncode == 65 and "image.json is not a valid ImageProfile" in done.stderr
    bad_host = tmp_path / "host.json"
    bad_host.write_text("{not json")
    done = run("check", str(bad_image), "--host", str(bad_host))
    assert done.returncode == 65 and "host.json is not a valid HostProfile" in done.stderr


def test_explain_prints_mechanisms_and_incidents() -> None:
    mechanism = run("explain", "seccomp.eperm-no-fallback")
    assert mechanism.returncode == 0 and "ENOSYS" in mechanism.stdout
    incident = run("explain", "glibc234-clone3")
    assert "https://github.com/moby/moby/issues/42680" in incident.stdout
    unknown = run("explain", "nothing-like-this")
    assert unknown.returncode == 64 and "nothing is called" in unknown.stderr


def test_explain_shows_every_path_to_a_syscall_in_an_image(trixie: tuple[str, Path]) -> None:
    """statx reaches the kernel in trixie through glibc's statx() (ls) and through libc's
    syscall() in sqv, a Rust program: both, with binaries, issuing points and sources."""
    _, saved = trixie
    done = run("explain", "statx", "--image", str(saved))
    assert done.returncode == 0, done.stderr
    assert "- libc: statx via statx()" in done.stdout
    assert "/usr/bin/ls" in done.stdout
    assert "- syscall(): statx issued through libc's syscall()" in done.stdout
    assert "site: /usr/bin/sqv 0x" in done.stdout
    assert "source: https://sourceware.org/" in done.stdout
    bare = run("explain", "statx")
    assert bare.returncode == 64 and "'statx' is a system call: say which image" in bare.stderr
    wrong = run("explain", "statz", "--image", str(saved))
    assert wrong.returncode == 64
    assert "'statz' is not a system call name" in wrong.stderr
    assert wrong.stdout == ""


def test_seccomp_choice_overrides_the_hosts_profile(
    trixie: tuple[str, Path], tmp_path: Path
) -> None:
    """Like a pod's seccompProfile: the same host judged unconfined, or under a later release's
    profile, loses the clone3 failure; a file or name portwise has no data for is refused."""
    _, saved = trixie

    def clone3(*extra: str) -> list[str]:
        done = run(
            "check", str(saved), "--host", "ubuntu-20.04-docker-20.10.9", "-f", "json", *extra
        )
        assert done.returncode in (0, 1, 2), done.stderr
        (verdict,) = json.loads(done.stdout)["verdicts"]
        return [f["severity"] for f in verdict["findings"] if f["subject"] == "clone3"]

    assert clone3() == ["fail"]
    assert clone3("--seccomp", "runtime-default") == ["fail"]
    assert clone3("--seccomp", "unconfined") == []
    assert clone3("--seccomp", "docker-20.10.10") == []
    custom = tmp_path / "custom.json"
    custom.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    refused = run("check", str(saved), "--host", "debian-12", "--seccomp", str(custom))
    assert refused.returncode == 64 and refused.stdout == ""
    assert "matches no released default profile" in refused.stderr
    wrong = run("check", str(saved), "--host", "debian-12", "--seccomp", "docker-99")
    assert wrong.returncode == 64 and "not unconfined, runtime-default" in wrong.stderr


def test_check_a_config_less_rootfs_of_static_binaries_of_two_architectures(
    tmp_path: Path,
) -> None:
    """Issue 13: `check` on a root filesystem without a config whose static programs are built
    for amd64 and arm64 crashed with `TypeError: unhashable type: 'list'` (the kernel rule had no
    syscall table for architecture 'unknown', and the crash's own finding was unhashable)."""
    root = tmp_path / "root" / "bin"
    root.mkdir(parents=True)
    source = tmp_path / "hello.c"
    source.write_text('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    for compiler, name in (("gcc", "hello"), ("aarch64-linux-gnu-gcc", "hello-arm64")):
        subprocess.run(
            [compiler, "-static", "-O1", "-o", str(root / name), str(source)], check=True
        )
    cache = str(tmp_path / "cache")
    done = run(
        "check", str(tmp_path / "root"), "--host", "debian-12", "-f", "json", "--cache-dir", cache
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    (verdict,) = json.loads(done.stdout)["verdicts"]
    assert verdict["platform"] == "linux/unknown"
    assert verdict["status"] == "RISK"  # the architecture is unknown: never PASS
    assert not [f for f in verdict["findings"] if f["id"].endswith(".internal-error")]
    scanned = json.loads(run("scan", "--json", str(tmp_path / "root"), "--cache-dir", cache).stdout)
    assert any("several architectures (amd64, arm64)" in u["message"] for u in scanned["unknowns"])
