"""Suites run for real (runc on the runtime fixture images): expected, unexpected, mitigated."""

from __future__ import annotations

import subprocess
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from portwise.report.suite_junit import to_suite_junit
from portwise.suite.load import load_suite
from portwise.suite.run import SuiteOptions, run_suite

Portwise = Callable[..., subprocess.CompletedProcess[str]]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples/suites/clone3.yaml"


def junit_cases(path: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.parse(path).getroot()
    (suite,) = root.findall("testsuite")
    return suite, {case.get("name", ""): case for case in suite.findall("testcase")}


def test_the_clone3_example_fails_as_known_and_its_mitigation_is_verified(
    runtime_images: Path,
    scan_cache: Path,
    tmp_path: Path,
    portwise: Portwise,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTWISE_RUNTIME_FIXTURES", str(runtime_images))
    monkeypatch.setenv("COLUMNS", "200")
    junit = tmp_path / "clone3.xml"
    done = portwise(
        "suite", "run", str(EXAMPLE), "--junit", str(junit), "--cache-dir", str(scan_cache)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "suite clone3" in done.stdout and "2/2 runs as expected" in done.stdout
    case_row = next(line for line in done.stdout.splitlines() if "trixie-on-docker" in line)
    assert [c.strip() for c in case_row.split("│")] == [
        "ok",
        "trixie-on-docker-20.10.9",
        "fail; threads fail",
        "fail; threads fail",
        "agree",
        "clone3-eperm",
        "yes",
    ]
    suite, cases = junit_cases(junit)
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")
    assert list(cases) == [
        "trixie-on-docker-20.10.9",
        "trixie-on-docker-20.10.9 mitigated: clone3-eperm",
    ]
    case_out = cases["trixie-on-docker-20.10.9"].findtext("system-out") or ""
    assert "threads: fail (predicted fail, agree): xz: (stdin): Cannot allocate memory" in case_out
    assert "known failures: clone3-eperm" in case_out
    mitigated = cases["trixie-on-docker-20.10.9 mitigated: clone3-eperm"]
    assert mitigated.find("failure") is None
    mitigated_out = mitigated.findtext("system-out") or ""
    assert "threads: pass" in mitigated_out
    assert "seccomp: docker-20.10.10 default profile" in mitigated_out


def test_unexpected_outcomes_exit_1_and_fail_in_junit(
    runtime_images: Path, scan_cache: Path, tmp_path: Path, portwise: Portwise
) -> None:
    """A known failure that no longer happens, and a mitigation that does not mitigate."""
    suite = tmp_path / "drift.yaml"
    suite.write_text(
        textwrap.dedent(f"""\
            suite: drift
            images:
              trixie: oci:{runtime_images}/oci/debian-trixie:latest
            hosts:
              fixed: ubuntu-20.04-docker-20.10.10
              broken:
                base: ubuntu-20.04-docker-20.10.9
                override: {{engines.runtimes.runc: 1.0.2}}
            cases:
              - name: gone
                image: trixie
                host: fixed
                probes: {{threads: echo portwise | xz -T2 >/dev/null}}
                allow_disagreement: true
                known_failures:
                  - id: clone3-eperm
                    probe: threads
                    description: no longer true on Docker 20.10.10
              - name: still-broken
                image: trixie
                host: broken
                probes: {{threads: echo portwise | xz -T2 >/dev/null}}
                allow_disagreement: true
                known_failures:
                  - id: clone3-eperm
                    probe: threads
                    description: clone3 answers EPERM
                    mitigation:
                      override: {{engines.engines.docker: 20.10.0}}
                      verify: true
            """),
        encoding="utf-8",
    )
    junit = tmp_path / "drift.xml"
    done = portwise(
        "suite", "run", str(suite), "--junit", str(junit), "--cache-dir", str(scan_cache)
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "1/3 runs as expected, UNEXPECTED OUTCOMES" in done.stdout
    assert "gone: expected fail, observed pass" in done.stdout
    assert "gone: probe threads: expected fail, observed pass" in done.stdout
    junit_suite, cases = junit_cases(junit)
    assert (junit_suite.get("tests"), junit_suite.get("failures")) == ("3", "2")
    gone = cases["gone"].find("failure")
    assert gone is not None
    assert gone.get("message") == (
        "expected fail, observed pass; probe threads: expected fail, observed pass"
    )
    assert cases["still-broken"].find("failure") is None
    undone = cases["still-broken mitigated: clone3-eperm"].find("failure")
    assert undone is not None
    assert (undone.get("message") or "").startswith(
        "probe threads: expected pass, observed fail (xz: (stdin): Cannot allocate memory)"
    )
    # upgrading docker to 20.10.0 gave the host that release's profile, which still says EPERM
    assert "seccomp: docker-20.10.0 default profile" in (undone.text or "")


def test_a_different_image_mitigates_and_named_probes_keep_their_names(
    runtime_images: Path, scan_cache: Path, write_suite: Callable[[str], Path]
) -> None:
    path = write_suite(f"""
        images:
          trixie: oci:{runtime_images}/oci/debian-trixie:latest
          bullseye: oci:{runtime_images}/oci/debian-bullseye:latest
        hosts:
          docker-20.10.9:
            base: ubuntu-20.04-docker-20.10.9
            override: {{engines.runtimes.runc: 1.0.2}}
        cases:
          - name: threads
            image: trixie
            host: docker-20.10.9
            probes:
              xz-threads:
                command: echo portwise | xz -T2 >/dev/null
                exercises: [clone3]  # so the run is compared with check's clone3 finding
              clock: date +%s
            expect_probes: {{clock: pass}}
            known_failures:
              - id: clone3-eperm
                probe: xz-threads
                description: glibc 2.41 tries clone3 first
                references: [glibc234-clone3]
                mitigation:
                  description: glibc 2.31 (bullseye) never calls clone3
                  image: bullseye
                  verify: true
    """)
    report = run_suite(load_suite(path, env={}), SuiteOptions(cache_dir=scan_cache))
    case, mitigated = report.results
    assert [p.name for p in case.report.probes] == ["xz-threads", "clock"]
    assert (case.ok, case.observed, case.mitigation_verified) == (
        True,
        "fail; clock pass; xz-threads fail",
        "yes",
    )
    assert (mitigated.ok, mitigated.image, mitigated.host, mitigated.observed) == (
        True,
        "bullseye",
        "docker-20.10.9",
        "xz-threads pass",
    )
    assert "debian-bullseye" in mitigated.report.image
    assert report.ok


def test_a_disagreeing_run_is_not_as_expected_and_junit_says_disagree(
    runtime_images: Path, scan_cache: Path, write_suite: Callable[[str], Path], tmp_path: Path
) -> None:
    """The outcome is as expected (pass), but the run contradicts check: the row is NO, its
    observed outcome stays "pass", and the JUnit evidence carries the DISAGREE status."""
    path = write_suite(f"""
        images:
          trixie: oci:{runtime_images}/oci/debian-trixie:latest
        hosts:
          docker-20.10.9:
            base: ubuntu-20.04-docker-20.10.9
            override: {{engines.runtimes.runc: 1.0.2}}
        cases:
          - name: wrong-claim
            image: trixie
            host: docker-20.10.9
            probes:
              quiet: {{command: "true", exercises: [clone3]}}
    """)
    report = run_suite(load_suite(path, env={}), SuiteOptions(cache_dir=scan_cache))
    (result,) = report.results
    assert (result.report.status, result.report.outcome) == ("DISAGREE", "PASS")
    assert (result.ok, result.observed, result.agreement) == (False, "pass", "disagree")
    assert result.problems == [
        "disagrees with portwise check: quiet: predicted fail, observed pass"
    ]
    junit = tmp_path / "out.xml"
    junit.write_text(to_suite_junit(report), encoding="utf-8")
    _, cases = junit_cases(junit)
    failure = cases["wrong-claim"].find("failure")
    assert failure is not None
    assert "DISAGREE (observed PASS), predicted FAIL, disagree" in (failure.text or "")
