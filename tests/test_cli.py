"""The command line end to end: JSON output valid against the published schema, exit codes."""

from __future__ import annotations

import json
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
    assert schema["$id"].endswith("/image/1.2.json")
    done = run("scan", "--json", small_image(tmp_path), "--cache-dir", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    profile = json.loads(done.stdout)
    jsonschema.validate(profile, schema)
    assert profile["schema_version"] == "1.2"
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
