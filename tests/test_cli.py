"""The command line end to end: JSON output valid against the published schema, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from imagekit import OciLayout, file, layer_tar, symlink


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portwise", *args], capture_output=True, text=True)


def small_image(tmp_path: Path) -> str:
    layout = OciLayout(tmp_path / "img")
    layout.add_image(
        [
            layer_tar(
                [
                    file("usr/lib/os-release", "ID=alpine\nVERSION_ID=3.19.0\n"),
                    symlink("etc/os-release", "../usr/lib/os-release"),
                    file(
                        "lib/apk/db/installed",
                        "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nt:1695822093\n",
                    ),
                ]
            )
        ]
    )
    return f"oci:{layout.root}"


def test_json_output_validates_against_schema(tmp_path: Path) -> None:
    schema = json.loads(run("schema", "image").stdout)
    assert schema["$id"].endswith("/image/1.3.json")
    done = run("scan", "--json", small_image(tmp_path), "--cache-dir", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    profile = json.loads(done.stdout)
    jsonschema.validate(profile, schema)
    assert profile["schema_version"] == "1.3"
    assert profile["packages"][0] | {"layer": 0} == {
        "manager": "apk",
        "name": "musl",
        "version": "1.2.4-r2",
        "architecture": "x86_64",
        "source_name": "musl",
        "source_version": "1.2.4-r2",
        "installed_at": None,
        "built_at": "2023-09-27T13:41:33Z",
        "layer": 0,
        "database": "/lib/apk/db/installed",
    }


def test_summary_is_readable(tmp_path: Path) -> None:
    done = run("scan", small_image(tmp_path), "--cache-dir", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    assert "1 apk" in done.stdout and "linux/amd64" in done.stdout


def test_unknown_schema_and_bad_size(tmp_path: Path) -> None:
    done = run("schema", "nope")
    assert done.returncode == 64 and "unknown schema 'nope'" in done.stderr
    done = run("scan", small_image(tmp_path), "--max-layer-size", "lots")
    assert done.returncode == 64 and "--max-layer-size: 'lots'" in done.stderr


def test_cache_info_and_clear(tmp_path: Path) -> None:
    cache = str(tmp_path / "c")
    assert run("scan", small_image(tmp_path), "--cache-dir", cache).returncode == 0
    assert "1 cached layers" in run("cache", "info", "--cache-dir", cache).stdout
    assert "removed 1 cached layers" in run("cache", "clear", "--cache-dir", cache).stdout
    assert "0 cached layers" in run("cache", "info", "--cache-dir", cache).stdout


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["scan"],
        ["check"],
        ["explain"],
        ["host"],
        ["hosts"],
        ["test"],
        ["suite"],
        ["suite", "run"],
        ["schema"],
        ["cache", "info"],
    ],
)
def test_every_help_page_renders(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Help text is rich markup: a literal "[/v]" in an option's help crashed it once. At 80
    columns every line fits."""
    monkeypatch.setenv("COLUMNS", "80")
    done = run(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    assert "Usage: " in done.stdout and "[OPTIONS]" in done.stdout
    assert "Traceback" not in done.stderr


def command_paths() -> list[list[str]]:
    """Every command and subcommand of the real command tree."""
    import typer.main

    from portwise.cli import app

    def walk(command: object, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(p) for p in command_paths()}
    for expected in ("scan", "check", "test", "hosts", "host show", "suite run", "cache clear"):
        assert expected in names


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_for_every_command_fits_80_columns(flag: str) -> None:
    """Each command's help, long and short flag, at 80 columns; the commands that give a
    verdict document the exit codes."""
    env = {**os.environ, "COLUMNS": "80"}
    for path in command_paths():
        done = subprocess.run(
            [sys.executable, "-m", "portwise", *path, flag], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, (path, done.stderr)
        assert done.stdout.startswith("Usage: portwise"), path
        assert max(len(line) for line in done.stdout.splitlines()) <= 80, path
        text = " ".join(done.stdout.split())
        if path in ([], ["check"], ["test"], ["scan"], ["suite", "run"]):
            assert "64 usage error" in text and "65 missing, broken or hostile" in text, path


def test_exit_codes_are_documented_alike_in_help_and_readme() -> None:
    from portwise import exits

    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    assert exits.HELP in readme
    assert (exits.PASS, exits.RISK, exits.FAIL, exits.NOT_RUN, exits.DISAGREE) == (0, 1, 2, 3, 5)
    assert (exits.USAGE, exits.DATA, exits.TOOL, exits.INTERNAL) == (64, 65, 69, 70)


def test_version_short_and_long_and_through_the_parser() -> None:
    expected = f"portwise {__import__('portwise').__version__}\n"
    for args in (["--version"], ["-V"], ["-q", "--version"]):
        done = run(*args)
        assert (done.returncode, done.stdout) == (0, expected), args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Usage: portwise"),
        (["--no-such-flag"], "No such option: --no-such-flag"),
        (["sacn", "x"], "No such command 'sacn'"),
        (["check"], "Missing argument"),
        (["check", "a.json"], "Missing option '--host'"),
        (["scan", "x", "--platfrom", "linux/amd64"], "No such option: --platfrom"),
        (["test", "x", "--host", "debian-12", "--timeout", "soon"], "--timeout"),
        (["hosts", "--jsno"], "No such option: --jsno"),
    ],
)
def test_wrong_arguments_are_usage_errors_never_a_verdict(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode == 64, done.stderr
    assert message in done.stderr and done.stdout == ""
    assert "Traceback" not in done.stderr


def test_a_missing_image_file_is_an_input_error(tmp_path: Path) -> None:
    for ref in (str(tmp_path / "nope.tar"), f"oci:{tmp_path / 'nope'}:latest"):
        done = run("scan", ref)
        assert done.returncode == 65, done.stderr
        assert done.stdout == "" and "error: image" in done.stderr
        done = run("check", ref, "--host", "debian-12")
        assert done.returncode == 65, done.stderr


def test_shell_completion_of_commands_and_host_names() -> None:
    def complete(words: str, cword: int) -> list[str]:
        env = {
            **os.environ,
            "_PORTWISE_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        }
        done = subprocess.run(
            [sys.executable, "-m", "portwise"], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("portwise ch", 1) == ["check"]
    assert "--host" in complete("portwise check x --ho", 3)
    assert complete("portwise check x --host ubuntu-20.04-docker-20.10.", 4) == [
        "ubuntu-20.04-docker-20.10.10",
        "ubuntu-20.04-docker-20.10.9",
    ]
    script = run("--show-completion", "bash")
    assert script.returncode == 0 and "_PORTWISE_COMPLETE" in script.stdout


def test_no_color_and_quiet(tmp_path: Path) -> None:
    """On a terminal, --no-color leaves no escape sequence; --quiet leaves stderr empty."""
    import pty

    image = small_image(tmp_path)
    master, slave = pty.openpty()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "portwise",
            "--no-color",
            "-q",
            "scan",
            image,
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    os.close(slave)
    drawn = os.read(master, 1 << 20)
    os.close(master)
    assert done.returncode == 0 and done.stderr == b""
    assert b"alpine" in drawn or b"apk" in drawn
    assert b"\x1b" not in drawn
    written = tmp_path / "scan.txt"
    quiet = run("scan", image, "-q", "-o", str(written), "--cache-dir", str(tmp_path / "c"))
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert "1 apk" in written.read_text()
    loud = run("scan", image, "--json", "-o", str(tmp_path / "s.json"))
    assert loud.stderr.startswith("wrote the image profile to")


def test_hosts_columns_json_and_host_show_by_name_or_file(tmp_path: Path) -> None:
    table = subprocess.run(
        [sys.executable, "-m", "portwise", "hosts"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert table.returncode == 0
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    header = table.stdout.splitlines()[0].split()
    assert header == ["host", "kernel", "engine", "runtime", "arch", "cgroup"]
    row = next(line for line in table.stdout.splitlines() if line.startswith("rhel-9.4 "))
    assert "5.14.0" in row and "x86-64" in row and "v2" in row
    listed = json.loads(run("hosts", "--json").stdout)
    rhel = next(h for h in listed if h["name"] == "rhel-9.4")
    assert rhel["kernel"].startswith("5.14.0-427") and rhel["cgroup"] == "v2"
    saved = tmp_path / "rhel.json"
    assert run("host", "show", "rhel-9.4", "--json", "-o", str(saved)).returncode == 0
    by_file = run("host", "show", str(saved))
    assert by_file.returncode == 0 and "rhel-9.4" in by_file.stdout
    wrong = run("host", "show", "rhel-9.5")
    assert wrong.returncode == 64 and "did you mean rhel-9.4" in wrong.stderr


def test_short_names_resolve_as_docker_does() -> None:
    from portwise.image.names import resolve

    assert resolve("alpine") == "docker://docker.io/library/alpine:latest"
    assert resolve("alpine:3.19") == "docker://docker.io/library/alpine:3.19"
    assert resolve("bitnami/redis:7") == "docker://docker.io/bitnami/redis:7"
    assert resolve("quay.io/podman/stable") == "docker://quay.io/podman/stable:latest"
    assert resolve("localhost:5000/app") == "docker://localhost:5000/app:latest"
    digest = "sha256:" + "a" * 64
    assert resolve(f"debian@{digest}") == f"docker://docker.io/library/debian@{digest}"
    for untouched in ("oci:./x:1", "docker-archive:a.tar", "./app.tar", "app.json", "Alpine"):
        assert resolve(untouched) == untouched
