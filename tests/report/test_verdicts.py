"""The terminal table and details: what a platform engineer needs is printed, literally."""

from __future__ import annotations

from rich.console import Console

from portwise.model.verdict import CheckReport, Finding, Verdict
from portwise.report.verdicts import render_check


def render(report: CheckReport, *, details: bool = True, width: int = 200) -> str:
    console = Console(record=True, width=width, color_system=None)
    render_check(console, report, details=details)
    return console.export_text()


def test_table_has_one_row_per_pair_with_status(report: CheckReport) -> None:
    text = render(report, details=False)
    rows = [line for line in text.splitlines() if "layout:trixie" in line]
    assert len(rows) == 3
    assert "debian-12-podman-4.3" in rows[0] and "PASS" in rows[0]
    assert "custom-arm-node" in rows[1] and "RISK" in rows[1]
    assert "unknown host fact: kernel page size" in rows[1]
    assert "ubuntu-20.04-docker-20.10.9" in rows[2] and "FAIL" in rows[2]
    assert "clone3 is refused with EPERM" in rows[2]  # most severe first
    assert "(+3)" in rows[2]  # the other findings are counted, listed below
    assert "4 pairs: 2 FAIL, 1 RISK, 1 PASS" in text
    assert "why" not in text  # no details asked for


def test_table_fits_80_columns_one_line_per_pair(report: CheckReport) -> None:
    """At 80 columns each pair is still one line: status, a short image name (the last path
    component, with the platform since the report holds two), host, and the deciding cause;
    what does not fit ends in an ellipsis, and the details below give everything in full."""
    text = render(report, details=False, width=80)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    rows = [line for line in text.splitlines() if line.startswith(("PASS", "RISK", "FAIL"))]
    assert len(rows) == 4
    assert rows[2].startswith("FAIL") and "layout:trixie (amd64)" in rows[2]
    assert "ubuntu-20.04-docker-2" in rows[2] and "clone3 is refused" in rows[2]
    assert "esbuild-arm64.tar" in rows[3] and "aarch64 image" in rows[3]


def test_one_image_on_many_hosts_names_the_image_once(report: CheckReport) -> None:
    one_image = report.model_copy(
        update={"verdicts": [v for v in report.verdicts if v.image == "oci:./layout:trixie"]}
    )
    text = render(one_image, details=False, width=80)
    assert "check: oci:./layout:trixie (linux/amd64)" in text.splitlines()[0]
    row = next(line for line in text.splitlines() if line.startswith("FAIL"))
    assert "ubuntu-20.04-docker-20.10.9" in row and "clone3 is refused with EPERM" in row


def test_a_real_cause_is_ranked_before_unknown_facts() -> None:
    """A RISK that only names an unknown host fact never hides a real risk of the same
    severity, nor a FAIL: the table shows the real cause."""
    unknown = Finding(
        id="a.unknown",
        mechanism="a",
        severity="risk",
        title="unknown host fact: kernel config",
        explanation="e",
        unknown=["host.kernel.config"],
    )
    real = Finding(id="b.risk", mechanism="b", severity="risk", title="real risk", explanation="e")
    report = CheckReport(
        portwise_version="0.1.0",
        knowledge={},
        verdicts=[
            Verdict(
                image="a",
                platform="linux/amd64",
                host="h",
                status="RISK",
                findings=[unknown, unknown, real],
                mechanisms=["a", "b"],
            )
        ],
    )
    row = next(line for line in render(report).splitlines() if line.startswith("RISK"))
    assert "real risk (+2)" in row


def test_details_print_evidence_mitigations_unknowns(report: CheckReport) -> None:
    text = render(report)
    for expected in (
        "FAIL  oci:./layout:trixie (linux/amd64) on ubuntu-20.04-docker-20.10.9",
        "[fail] seccomp.eperm  clone3 is refused with EPERM",
        "glibc 2.34+ calls clone3 first and retries clone only on ENOSYS",
        "image side    - /usr/lib/x86_64-linux-gnu/libc.so.6 (glibc 2.41) calls clone3",
        "host side     - docker 20.10.9 default seccomp profile: clone3 -> SCMP_ACT_ERRNO(EPERM)",
        "fix on host   - upgrade docker to 20.10.10 or later (clone3 -> ENOSYS)",
        # brackets and angle brackets survive: no rich markup is read from findings
        "fix in image  - run with --security-opt seccomp=<profile allowing clone3>",
        "dash's [ -x f ] calls faccessat2",
        "incidents     - clone3-eperm-docker-20.10.9",
        "references    - https://github.com/moby/moby/pull/42836",
        "unknown      - host.kernel.page_size",
        "host side    - kernel page size unknown: /proc/self/auxv not readable",
        "- binfmt_misc: no qemu-aarch64",
    ):
        assert expected in text, expected
    # every pair with findings gets details, most severe first; a PASS pair's notes too
    assert "PASS  oci:./layout:trixie (linux/amd64) on debian-12-podman-4.3" in text
    assert text.index("FAIL  oci:") < text.index("RISK  oci:") < text.index("PASS  oci:")
    assert "RISK  oci:./layout:trixie (linux/amd64) on custom-arm-node" in text
    assert "FAIL  docker-archive:esbuild-arm64.tar (linux/arm64) on debian-12-podman-4.3" in text
    # within a pair, fail findings come before risk and info ones
    pair = text.split("on ubuntu-20.04-docker-20.10.9", 1)[1]
    assert pair.index("[fail] seccomp.eperm") < pair.index("[risk] pagesize.unknown-host")
    assert pair.index("[risk] pagesize") < pair.index("[info] kernel.abi-tag")


def test_no_markup_or_emoji_codes_are_interpreted() -> None:
    finding = Finding(
        id="x.y",
        mechanism="x",
        severity="risk",
        title="title with :warning: and [bold]tags[/bold]",
        explanation="[red]not red[/red]",
        unknown=["host.kernel.config[CONFIG_USER_NS]"],
    )
    report = CheckReport(
        portwise_version="0.1.0",
        knowledge={},
        verdicts=[
            Verdict(
                image="app:[v1]",
                platform="linux/amd64",
                host="h:smile:",
                status="RISK",
                findings=[finding],
                mechanisms=["x"],
            )
        ],
    )
    text = render(report)
    assert "title with :warning: and [bold]tags[/bold]" in text
    assert "[red]not red[/red]" in text
    assert "host.kernel.config[CONFIG_USER_NS]" in text
    assert "app:[v1]" in text and "h:smile:" in text
    assert all(ord(ch) < 0x2500 or 0x2500 <= ord(ch) < 0x2600 for ch in text)  # box lines only


def test_pass_with_no_findings_shows_a_dash() -> None:
    report = CheckReport(
        portwise_version="0.1.0",
        knowledge={},
        verdicts=[
            Verdict(image="a", platform="linux/amd64", host="h", status="PASS", mechanisms=[])
        ],
    )
    text = render(report)
    assert "1 pair: 0 FAIL, 0 RISK, 1 PASS" in text
    row = next(line for line in text.splitlines() if line.startswith("PASS"))
    assert row.split() == ["PASS", "a", "h", "-"]
