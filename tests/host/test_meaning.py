"""Host profiles from files are checked for meaning: the usual architecture and CPU-level
aliases are written the way rules compare them; a seccomp profile portwise has no data for is a
usage error naming the file, the field and the valid names (it was an internal error)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from portwise.check import load_host
from portwise.errors import InputError
from portwise.host.catalog import load_catalog_host
from portwise.host.meaning import checked
from portwise.model.host import HostProfile


def variant(**values: str) -> HostProfile:
    """The debian-12 catalog host with some facts' values replaced ("kernel.architecture")."""
    data = load_catalog_host("debian-12").model_dump()
    for dotted, value in values.items():
        group, name = dotted.split("__")
        data[group][name]["value"] = value
    return HostProfile.model_validate(data)


@pytest.mark.parametrize(("alias", "canonical"), [("x86_64", "x86-64"), ("amd64", "x86-64"),
                         ("AMD64", "x86-64"), ("arm64", "aarch64"), ("armv7l", "arm")])  # fmt: skip
def test_architecture_aliases_become_the_machine_name(alias: str, canonical: str) -> None:
    host = checked(variant(kernel__architecture=alias), "test")
    assert host.kernel.architecture.value == canonical


def test_cpu_level_aliases(tmp_path: Path) -> None:
    assert checked(variant(cpu__x86_64_level="v3"), "t").cpu.x86_64_level.value == "x86-64-v3"
    with pytest.raises(InputError, match=r"cpu\.x86_64_level 'v5' .* valid: .*x86-64-v4"):
        checked(variant(cpu__x86_64_level="v5"), "t")


def test_unknown_names_are_input_errors_listing_the_valid_ones() -> None:
    with pytest.raises(InputError, match=r"kernel\.architecture 'vax' .* valid: .*aarch64"):
        checked(variant(kernel__architecture="vax"), "host file x")
    with pytest.raises(InputError, match=r"seccomp_profile 'docker-99.0' .*docker-20\.10\.9"):
        checked(variant(engines__seccomp_profile="docker-99.0"), "host file x")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portwise", *args], capture_output=True, text=True)


def test_check_refuses_a_host_file_with_an_unknown_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(variant(engines__seccomp_profile="docker-99.0").model_dump_json())
    done = run("check", "no-image-needed.json", "--host", str(bad))
    assert done.returncode == 65
    assert f"host profile {bad}: engines.seccomp_profile 'docker-99.0'" in done.stderr
    assert "internal" not in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_host_file_saying_x86_64_is_the_same_host(tmp_path: Path) -> None:
    """It was judged a foreign architecture: same verdicts as the canonical file now."""
    plain, alias = tmp_path / "plain.json", tmp_path / "alias.json"
    plain.write_text(load_catalog_host("debian-12").model_dump_json())
    data = json.loads(plain.read_text())
    data["kernel"]["architecture"]["value"] = "x86_64"
    alias.write_text(json.dumps(data))
    assert load_host(str(alias)) == load_host(str(plain))
