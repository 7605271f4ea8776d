"""Suite files that cannot run: every problem names the file, the line and the field."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from portwise.host.catalog import load_catalog_host
from portwise.host.seccomp_table import runc_stub
from portwise.suite.load import SuiteError, load_suite

WriteSuite = Callable[[str], Path]
Portwise = Callable[..., subprocess.CompletedProcess[str]]

GOOD = """
images:
  trixie: oci:/images/oci/debian-trixie:latest
hosts:
  old-docker:
    base: ubuntu-20.04-docker-20.10.9
    override:
      engines.runtimes.runc: 1.0.2
  new-docker: ubuntu-20.04-docker-20.10.10
cases:
  - name: threads
    image: trixie
    host: old-docker
    probes:
      xz: echo portwise | xz -T2 >/dev/null
    known_failures:
      - id: clone3-eperm
        probe: xz
        description: clone3 answers EPERM
        references: [glibc234-clone3, https://github.com/moby/moby/issues/42680]
        mitigation:
          override:
            engines.seccomp_profile: docker-20.10.10
          verify: true
"""


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SuiteError) as caught:
        load_suite(path, env=env or {})
    return caught.value.problems


def test_a_valid_suite_becomes_a_case_and_its_mitigation_run(write_suite: WriteSuite) -> None:
    path = write_suite(GOOD)
    suite = load_suite(path, env={})
    case, mitigated = suite.runs
    assert suite.name == "suite"  # the file's stem, as no `suite:` name is given
    assert (case.name, case.kind, case.expect, dict(case.expect_probes)) == (
        "threads",
        "case",
        "fail",
        {"xz": "fail"},
    )
    assert case.commands == ("echo portwise | xz -T2 >/dev/null",)
    assert case.probe_names == ("xz",)
    runc = case.host_profile.engines.runtimes.value
    assert runc is not None and runc[0].version.value == "1.0.2"
    assert runc[0].version.source == f"suite {path.name}:7"
    assert runc_stub(case.host_profile) is True
    assert case.host_profile.engines.seccomp_profile.value == "docker-20.10.9"
    assert (mitigated.kind, mitigated.mitigates, mitigated.host) == (
        "mitigation",
        "clone3-eperm",
        "old-docker+clone3-eperm",
    )
    assert mitigated.host_profile.engines.seccomp_profile.value == "docker-20.10.10"
    assert runc_stub(mitigated.host_profile) is True  # the case's own override is kept
    assert (mitigated.expect, dict(mitigated.expect_probes)) == (None, {"xz": "pass"})


def test_the_example_suite_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "examples/suites/clone3.yaml"
    suite = load_suite(example, env={"PORTWISE_RUNTIME_FIXTURES": "/x"})
    assert suite.images == {"trixie": "oci:/x/oci/debian-trixie:latest"}
    assert [r.kind for r in suite.runs] == ["case", "mitigation"]


def test_unknown_keys_name_their_line(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD.replace("    probes:\n", "    expected: fail\n    probes:\n").replace(
            "        verify: true", "        verify: true\n          retries: 3"
        )
    )
    assert problems(path) == [
        f"{path}:13: cases[0].expected: unknown key",
        f"{path}:25: cases[0].known_failures[0].mitigation.retries: unknown key",
    ]


def test_wrong_types_and_values(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD.replace("    probes:\n", "    timeout: soon\n    expect: maybe\n    probes:\n")
    )
    found = problems(path)
    assert found[0].startswith(f"{path}:13: cases[0].timeout: Input should be a valid number")
    assert found[1].startswith(f"{path}:14: cases[0].expect: Input should be 'pass' or 'fail'")
    assert len(found) == 2


def test_probes_of_the_wrong_shape(write_suite: WriteSuite) -> None:
    path = write_suite(GOOD.replace("      xz: echo portwise | xz -T2 >/dev/null", "      xz: 3"))
    assert problems(path) == [
        f"{path}:13: cases[0].probes: probes is `smoke`, a list of commands, "
        "or a mapping of probe names to commands (or to {command: ..., exercises: [...]})"
    ]


def test_a_probe_definition_with_an_unknown_key(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD.replace(
            "      xz: echo portwise | xz -T2 >/dev/null",
            "      xz: {command: xz -T2, exercise: [clone3]}",
        )
    )
    assert problems(path) == [
        f"{path}:13: cases[0].probes: probe 'xz' takes command: (a string) and exercises: "
        "(a list); got command, exercise"
    ]


def test_unknown_catalog_host(write_suite: WriteSuite) -> None:
    path = write_suite(GOOD.replace("ubuntu-20.04-docker-20.10.10", "ubuntu-20.04-docker-99"))
    (problem,) = problems(path)
    assert problem.startswith(
        f"{path}:8: hosts.new-docker: unknown host 'ubuntu-20.04-docker-99': not 'local'"
    )


def test_duplicate_case_names_point_at_both(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD
        + """  - name: threads
    image: trixie
    host: new-docker
"""
    )
    assert problems(path) == [
        f"{path}:24: cases[1].name: duplicate case name 'threads' (also at line 10)"
    ]


def test_yaml_syntax_error(write_suite: WriteSuite) -> None:
    path = write_suite(GOOD.replace("description: clone3 answers", "description: clone3: answers"))
    assert problems(path) == [f"{path}:18: yaml: mapping values are not allowed here"]


def test_duplicate_yaml_keys_are_not_silently_merged(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD.replace("    host: old-docker\n", "    host: old-docker\n    host: x\n")
    )
    assert f"{path}:13: cases[0].host: duplicate key" in problems(path)


def test_names_that_refer_to_nothing(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD.replace("    image: trixie", "    image: [trixie, sid]")
        .replace("        probe: xz", "        probe: threads")
        .replace("references: [glibc234-clone3,", "references: [glibc999-nothing,")
        .replace("engines.seccomp_profile: docker-20.10.10", "engines.seccomp_profile: docker-99")
        .replace("engines.runtimes.runc: 1.0.2", "engines.runtime.runc: 1.0.2")
    )
    found = problems(path)
    assert [p.split(": ")[0:2] for p in found] == [
        [f"{path}:7", "hosts.old-docker.override.engines.runtime.runc"],
        [f"{path}:11", "cases[0].image[1]"],
        [f"{path}:17", "cases[0].known_failures[0].probe"],
        [f"{path}:19", "cases[0].known_failures[0].references[0]"],
        [f"{path}:22", "cases[0].known_failures[0].mitigation.override.engines.seccomp_profile"],
    ]
    assert "no image named 'sid' under images: (known: trixie)" in found[1]
    assert "no probe named 'threads' (probes: xz)" in found[2]
    assert "'glibc999-nothing' is neither a URL nor a documented incident" in found[3]
    assert "engines has no fact 'runtime'" in found[0]
    assert "unknown seccomp profile 'docker-99'; known: unconfined, containerd-1.4.0" in found[4]


def test_a_bad_override_value_and_an_unknown_profile(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD.replace(
            "engines.seccomp_profile: docker-20.10.10", "engines.seccomp_profile: dock"
        ).replace("engines.runtimes.runc: 1.0.2", "kernel.page_size: huge")
    )
    found = problems(path)
    assert found[0].startswith(
        f"{path}:7: hosts.old-docker.override.kernel.page_size: Input should be a valid integer"
    )
    assert found[1].startswith(
        f"{path}:22: cases[0].known_failures[0].mitigation.override.engines.seccomp_profile: "
        "unknown seccomp profile 'dock'"
    )
    assert len(found) == 2


def test_contradicting_expectations(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD.replace(
            "    probes:\n", "    expect: pass\n    expect_probes: {xz: pass}\n    probes:\n"
        )
    )
    assert problems(path) == [
        f"{path}:13: cases[0].expect: a case with known failures cannot expect pass",
        f"{path}:14: cases[0].expect_probes.xz: expects pass, but known failure clone3-eperm "
        "says this probe fails",
    ]


def test_variables_in_references(write_suite: WriteSuite, tmp_path: Path) -> None:
    text = GOOD.replace("oci:/images/", "oci:${IMAGES}/").replace(
        "  new-docker: ubuntu-20.04-docker-20.10.10", "  saved: ${SUITE_DIR}/host.json"
    )
    path = write_suite(text)
    found = problems(path)
    assert found[0] == f"{path}:2: images.trixie: ${{IMAGES}} is not set in the environment"
    assert "host profile file" in found[1] and found[1].startswith(f"{path}:8: hosts.saved")
    (tmp_path / "host.json").write_text(
        load_catalog_host("debian-12").model_dump_json(), encoding="utf-8"
    )
    suite = load_suite(path, env={"IMAGES": "/srv/images"})
    assert suite.images["trixie"] == "oci:/srv/images/oci/debian-trixie:latest"
    defaulted = write_suite(text.replace("${IMAGES}", "${IMAGES:-/var/images}"))
    assert (
        load_suite(defaulted, env={}).images["trixie"] == "oci:/var/images/oci/debian-trixie:latest"
    )


def test_a_list_of_images_and_hosts_is_every_pair(write_suite: WriteSuite) -> None:
    path = write_suite(
        GOOD
        + """  - name: smoke
    image: trixie
    host: [old-docker, new-docker]
    expect_probes: {threads: fail}
"""
    )
    runs = load_suite(path, env={}).runs
    assert [r.name for r in runs[2:]] == [
        "smoke[trixie@old-docker]",
        "smoke[trixie@new-docker]",
    ]
    assert runs[2].commands == () and "entrypoint" in runs[2].probe_names


def test_cli_refuses_a_bad_suite_with_exit_65_and_writes_nothing(
    write_suite: WriteSuite, tmp_path: Path, portwise: Portwise
) -> None:
    path = write_suite(GOOD.replace("    probes:\n", "    expected: fail\n    probes:\n"))
    junit = tmp_path / "out.xml"
    done = portwise("suite", "run", str(path), "--junit", str(junit))
    assert done.returncode == 65
    assert done.stdout == ""
    assert f"{path}:13: cases[0].expected: unknown key" in done.stderr
    assert not junit.exists()
