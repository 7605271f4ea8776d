"""The command line: parse, call one API function, render; errors become a line and an exit code."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from portwise import __version__
from portwise.check import (
    engine_views,
    exit_code,
    load_host,
    load_images,
    one_engine,
    run_check,
)
from portwise.errors import PortwiseError, UsageError
from portwise.host.catalog import catalog_names, load_catalog_host
from portwise.host.collect import collect_host
from portwise.host.meaning import with_seccomp
from portwise.host.seccomp_table import seccomp_table
from portwise.image.analyzers import with_options
from portwise.image.cache import LayerCache, default_cache_dir
from portwise.image.layers import Limits
from portwise.image.scan import ScanOptions, scan
from portwise.knowledge.syscalls import is_syscall
from portwise.model.host import HostProfile
from portwise.model.schema import SCHEMAS, schema_json
from portwise.model.verdict import CheckReport
from portwise.report.explain import render_explain, render_syscall_uses
from portwise.report.junit import to_junit
from portwise.report.run import RunProgress, render_run
from portwise.report.sarif import to_sarif
from portwise.report.terminal import ScanProgress, render_host, render_profile, render_seccomp
from portwise.report.verdicts import render_check
from portwise.rules import MECHANISMS
from portwise.runtime.run import RunOptions, record_disagreement, run_test
from portwise.units import human_size, parse_size

app = typer.Typer(
    help="Will this container image run on that host? If not, why, and what to do.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cache_app = typer.Typer(help="Inspect or clear the per-layer cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Where the layer cache lives (default: user cache dir)."),
]


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"portwise {__version__}")
        raise typer.Exit()


@app.command("scan")
def scan_command(
    image: Annotated[
        str, typer.Argument(help="Image reference (oci:, docker-archive:, path, ...)")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the ImageProfile as JSON.")
    ] = False,
    platform: Annotated[
        str | None, typer.Option(help="Platform in a multi-arch index: os/arch or os/arch/variant.")
    ] = None,
    all_platforms: Annotated[
        bool, typer.Option("--all-platforms", help="Scan every platform of an index.")
    ] = False,
    cache_dir: CacheDir = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the cache.")
    ] = False,
    max_layer_size: Annotated[
        str, typer.Option(help="Refuse a layer that unpacks to more than this (e.g. 32G).")
    ] = "32G",
    allow_device_nodes: Annotated[
        bool, typer.Option(help="Deprecated, no effect: device nodes are always recorded.")
    ] = False,
    tls_verify: Annotated[
        bool, typer.Option(help="Verify registry TLS certificates (docker:// references).")
    ] = True,
    show_files: Annotated[bool, typer.Option(help="List every file in the summary.")] = False,
    cpu_scan: Annotated[
        bool,
        typer.Option(
            "--cpu-scan",
            help="Disassemble x86-64 binaries that carry no ISA-level note, to find the CPU "
            "level they need (slower).",
        ),
    ] = False,
) -> None:
    """Read an image (never extracting it) and print what its user space is made of."""
    options = ScanOptions(
        platform=platform,
        all_platforms=all_platforms,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        tls_verify=tls_verify,
        analyzers=with_options(cpu_scan=cpu_scan),
        limits=Limits(
            max_layer_unpacked=parse_size(max_layer_size, "--max-layer-size"),
            allow_device_nodes=allow_device_nodes,
        ),
    )
    with ScanProgress(err, enabled=not as_json or err.is_terminal) as progress:
        profiles = scan(image, options, progress.on_layer)
    if as_json:
        documents = [p.model_dump_json(indent=2) for p in profiles]
        text = "[\n" + ",\n".join(documents) + "\n]" if all_platforms else documents[0]
        sys.stdout.write(text + "\n")
        return
    for profile in profiles:
        render_profile(out, profile, show_files=show_files)


host_app = typer.Typer(
    help="Profile a container host, or show a reference host from the catalog.",
    invoke_without_command=True,
)
app.add_typer(host_app, name="host")
Catalogs = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="A directory of your own host files (extends the catalog)."),
]


@host_app.callback()
def host_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the HostProfile as JSON.")] = False,
    root: Annotated[
        Path,
        typer.Option(help="Read a host filesystem mounted here (its /proc, /sys, /boot, /etc)."),
    ] = Path("/"),
    name: Annotated[str | None, typer.Option(help="Name to record (default: hostname).")] = None,
    seccomp: Annotated[
        bool, typer.Option("--seccomp", help="Print what its default seccomp profile answers.")
    ] = False,
) -> None:
    """Profile this host (or one mounted at --root): each fact with where it came from."""
    if ctx.invoked_subcommand is not None:
        return
    _print_host(collect_host(root, name), as_json, seccomp)


@host_app.command("show")
def host_show(
    name: Annotated[str, typer.Argument(help="A catalog host, e.g. ubuntu-20.04-docker-20.10.9")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the HostProfile as JSON.")] = False,
    catalog: Catalogs = None,
    seccomp: Annotated[
        bool, typer.Option("--seccomp", help="Print what its default seccomp profile answers.")
    ] = False,
) -> None:
    """Show a reference host from the catalog."""
    _print_host(load_catalog_host(name, catalog or []), as_json, seccomp)


@app.command("hosts")
def hosts_command(catalog: Catalogs = None) -> None:
    """List the reference hosts of the catalog (and of --catalog directories)."""
    for host in catalog_names(catalog or []):
        out.print(host, highlight=False)


def _print_host(profile: HostProfile, as_json: bool, seccomp: bool = False) -> None:
    if seccomp:
        render_seccomp(out, profile, seccomp_table(profile))
    elif as_json:
        sys.stdout.write(profile.model_dump_json(indent=2) + "\n")
    else:
        render_host(out, profile)


Format = Annotated[str, typer.Option("--format", "-f", help="table | json | sarif | junit")]


@app.command("check")
def check_command(
    images: Annotated[
        list[str],
        typer.Argument(help="Image references (scanned, cached) or saved ImageProfile JSON files."),
    ],
    hosts: Annotated[
        list[str],
        typer.Option("--host", help="A catalog name, a HostProfile JSON file, or 'local'."),
    ],
    output_format: Format = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(help="fail: exit 2 on FAIL; risk: also exit 1 on RISK; never: exit 0."),
    ] = "fail",
    catalog: Catalogs = None,
    platform: Annotated[
        str | None, typer.Option(help="Platform in a multi-arch index: os/arch or os/arch/variant.")
    ] = None,
    cache_dir: CacheDir = None,
    tls_verify: Annotated[
        bool, typer.Option(help="Verify registry TLS certificates (docker:// references).")
    ] = True,
    details: Annotated[bool, typer.Option(help="Print each finding under the table.")] = True,
    cpu_scan: Annotated[
        bool,
        typer.Option(
            "--cpu-scan",
            help="Disassemble x86-64 binaries with no ISA-level note (slower; without it their "
            "CPU level is a risk below x86-64-v3, never assumed).",
        ),
    ] = False,
    seccomp_choice: Annotated[
        str | None,
        typer.Option(
            "--seccomp",
            help="The profile the container or pod asks for: runtime-default (the engine's "
            "default, also where a kubelet leaves pods unconfined), unconfined, a released "
            "profile's name, or a profile FILE. Default: what the host gives unasked.",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="Judge only this engine's setup (docker, podman...) on hosts that record"
            " several; by default each engine gets its own verdict.",
        ),
    ] = None,
) -> None:
    """Will these images run on these hosts? PASS, RISK or FAIL per pair, why, and what to do."""
    if output_format not in REPORTS:
        raise UsageError(f"unknown --format {output_format!r}; use one of {', '.join(REPORTS)}")
    if fail_on not in ("fail", "risk", "never"):
        raise UsageError(f"unknown --fail-on {fail_on!r}; use fail, risk or never")
    host_profiles = [
        with_seccomp(view, seccomp_choice) if seccomp_choice else view
        for spec in hosts
        for view in engine_views(load_host(spec, catalog or []), engine)
    ]
    options = ScanOptions(
        platform=platform,
        cache_dir=cache_dir,
        tls_verify=tls_verify,
        analyzers=with_options(cpu_scan=cpu_scan),
    )
    with ScanProgress(err, enabled=err.is_terminal) as progress:
        profiles = load_images(images, options, progress.on_layer)
    report = run_check(profiles, host_profiles)
    if output_format == "table" and output is None:
        render_check(out, report, details=details)
    else:
        text = REPORTS[output_format](report, fail_on)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            err.print(f"wrote {output_format} report to {output}", highlight=False)
    code = exit_code(report, fail_on)
    if code:
        raise typer.Exit(code)


def _table_text(report: CheckReport, fail_on: str) -> str:
    console = Console(record=True, width=160, file=io.StringIO())
    render_check(console, report)
    return console.export_text()


def _json_text(report: CheckReport, fail_on: str) -> str:
    return report.model_dump_json(indent=2) + "\n"


def _sarif_text(report: CheckReport, fail_on: str) -> str:
    return json.dumps(to_sarif(report), indent=2) + "\n"


def _junit_text(report: CheckReport, fail_on: str) -> str:
    return to_junit(report, fail_on="risk" if fail_on == "risk" else "fail")


REPORTS: dict[str, Callable[[CheckReport, str], str]] = {
    "table": _table_text,
    "json": _json_text,
    "sarif": _sarif_text,
    "junit": _junit_text,
}


TEST_EXIT = {"PASS": 0, "DISAGREE": 5, "FAIL": 2, "NOT RUN": 3}


@app.command("test")
def test_command(
    image: Annotated[str, typer.Argument(help="Image reference (oci:, docker-archive:, ...).")],
    host: Annotated[str, typer.Option("--host", help="Catalog name, HostProfile JSON or local.")],
    probe: Annotated[
        list[str] | None,
        typer.Option("--probe", help="A command to run (default: smoke probes + entrypoint)."),
    ] = None,
    engine: Annotated[str, typer.Option(help="runc | crun (bundle fast path) | podman.")] = "runc",
    runtime: Annotated[
        str | None, typer.Option(help="OCI runtime podman should use (e.g. runc).")
    ] = None,
    trace: Annotated[
        bool, typer.Option("--trace", help="Rerun failed probes under strace; list failed calls.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds each probe may run.")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the RunReport as JSON.")] = False,
    binfmt_setup: Annotated[
        bool,
        typer.Option(
            "--binfmt-setup/--no-binfmt-setup",
            help="A foreign image and no binfmt_misc handler: as root, register qemu-user-static's "
            "(update-binfmts), and say so; --no-binfmt-setup: NOT RUN, with the command.",
        ),
    ] = True,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress on stderr (shown on a terminal).")
    ] = False,
    host_engine: Annotated[
        str | None,
        typer.Option(
            "--host-engine",
            help="Which of the host's engines to emulate (docker, podman...), when it records"
            " several.",
        ),
    ] = None,
    catalog: Catalogs = None,
    cache_dir: CacheDir = None,
) -> None:
    """Run the image for real under a host's constraints, and compare with `portwise check`.

    Exit codes:
    0 PASS: every probe that ran passed
    2 FAIL: a probe failed, as portwise check predicted
    3 NOT RUN: no probe ran to an outcome (the reason and a fix are printed)
    5 DISAGREE: the run contradicts portwise check, whatever it observed
    errors: 2 usage, 3 image, 4 tool
    """
    if engine not in ("runc", "crun", "podman"):
        raise UsageError(f"unknown --engine {engine!r}; use runc, crun or podman")
    if timeout <= 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {timeout:g}")
    host_profile = one_engine(load_host(host, catalog or []), host_engine)
    with RunProgress(err, enabled=err.is_terminal and not quiet) as progress:
        progress.say("scanning the image")
        (profile, *_) = load_images([image], ScanOptions(cache_dir=cache_dir))
        options = RunOptions(
            engine=engine,  # type: ignore[arg-type]
            commands=probe or [],
            timeout=timeout,
            trace=trace,
            podman_runtime=runtime,
            binfmt_setup=binfmt_setup,
        )
        report = run_test(profile, host_profile, options, progress.say)
    recorded = record_disagreement(report, cache_dir or default_cache_dir())
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        for change in report.host_changes:
            err.print(f"[bold yellow]changed this machine:[/] {escape(change)}", highlight=False)
    else:
        render_run(out, report)
        if recorded:
            err.print(f"recorded in {recorded}", highlight=False)
    if report.status == "NOT RUN":
        err.print(f"[bold yellow]not run:[/] {escape(report.not_run_why or '')}", highlight=False)
        if report.not_run_hint:
            err.print(f"[dim]to run it: {escape(report.not_run_hint)}[/]", highlight=False)
    code = TEST_EXIT[report.status]
    if code:
        raise typer.Exit(code)


suite_app = typer.Typer(help="Regression suites: cases, known failures, mitigations.")
app.add_typer(suite_app, name="suite")


@suite_app.command("run")
def suite_run(
    file: Annotated[Path, typer.Argument(help="A suite file (YAML; see examples/suites).")],
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (a case per run).")
    ] = None,
    engine: Annotated[str, typer.Option(help="runc | crun (bundle fast path) | podman.")] = "runc",
    runtime: Annotated[
        str | None, typer.Option(help="OCI runtime podman should use (e.g. runc).")
    ] = None,
    binfmt_setup: Annotated[
        bool,
        typer.Option(
            "--binfmt-setup/--no-binfmt-setup",
            help="As for portwise test: may register a binfmt_misc handler for a foreign image.",
        ),
    ] = True,
    catalog: Catalogs = None,
    cache_dir: CacheDir = None,
) -> None:
    """Run every case and mitigation check of a suite; exit 1 on any unexpected outcome.

    Unexpected: an outcome or a named probe other than expected,
    a mitigation that did not mitigate,
    a run that disagrees with portwise check (unless the case allows it).
    Exit codes: 0 every run as expected, 1 not, 2 a bad suite file.
    """

    from portwise.report.suite import render_suite
    from portwise.report.suite_junit import to_suite_junit
    from portwise.suite.load import Run, load_suite
    from portwise.suite.run import SuiteOptions, run_suite

    if engine not in ("runc", "crun", "podman"):
        raise UsageError(f"unknown --engine {engine!r}; use runc, crun or podman")
    suite = load_suite(file, catalog or [])

    def progress(run: Run, index: int, total: int) -> None:
        err.print(f"[{index + 1}/{total}] {escape(run.name)}", highlight=False)

    options = SuiteOptions(
        engine=engine,  # type: ignore[arg-type]
        podman_runtime=runtime,
        cache_dir=cache_dir,
        journal_dir=cache_dir or default_cache_dir(),
        binfmt_setup=binfmt_setup,
    )
    report = run_suite(suite, options, progress if err.is_terminal else None)
    for change in dict.fromkeys(c for r in report.results for c in r.report.host_changes):
        err.print(f"[bold yellow]changed this machine:[/] {escape(change)}", highlight=False)
    render_suite(out, report)
    if junit is not None:
        junit.write_text(to_suite_junit(report), encoding="utf-8")
        err.print(f"wrote JUnit XML to {junit}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("explain")
def explain_command(
    topic: Annotated[
        str, typer.Argument(help="A mechanism, finding id or incident id; with --image, a syscall.")
    ],
    image: Annotated[
        str | None,
        typer.Option(help="Show every way this image (reference or saved JSON) reaches TOPIC."),
    ] = None,
    cache_dir: CacheDir = None,
) -> None:
    """Print what a mechanism checks and why, or a documented incident with its sources; with
    --image, which binaries issue a system call, at which sites, by which path."""
    if image is None:
        if is_syscall(topic) and topic not in {m.id for m in MECHANISMS}:
            raise UsageError(
                f"{topic!r} is a system call: say which image",
                hint=f"portwise explain {topic} --image IMAGE",
            )
        render_explain(out, topic)
        return
    if not is_syscall(topic):
        raise UsageError(f"{topic!r} is not a system call name", hint="e.g. clone3, statx")
    (profile, *_) = load_images([image], ScanOptions(cache_dir=cache_dir))
    render_syscall_uses(out, profile, topic)


@app.command("schema")
def schema_command(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(SCHEMAS)}")],
) -> None:
    """Print the versioned JSON Schema of a portwise document."""
    sys.stdout.write(schema_json(name) + "\n")


@cache_app.command("info")
def cache_info(cache_dir: CacheDir = None) -> None:
    """Where the cache is, what it holds, and damaged copies set aside (checks every page)."""
    cache = LayerCache(cache_dir or default_cache_dir())
    info = cache.info()
    cache.close()
    out.print(
        f"{info.path}: {info.layers} cached layers, {info.profiles} cached image profiles, "
        f"{human_size(info.size)}" + ("" if info.usable else " (not usable: see the warning)")
    )
    for path in info.set_aside:
        out.print(f"damaged, set aside: {path}")


@cache_app.command("clear")
def cache_clear(cache_dir: CacheDir = None) -> None:
    """Forget every cached layer and image, and delete damaged copies set aside."""
    cache = LayerCache(cache_dir or default_cache_dir())
    removed = cache.clear()
    set_aside = cache.remove_set_aside()
    cache.close()
    out.print(
        f"removed {removed} cached layers from {cache.path}"
        + (f" and {set_aside} damaged copies set aside" if set_aside else "")
    )


class _WarningsOnStderr(logging.Handler):
    """portwise's warnings (a damaged or full cache) printed through the stderr console, so a
    live progress display stays intact."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[yellow]warning:[/] {escape(record.getMessage())}", highlight=False)


def main() -> None:
    """Entry point: the one place that turns portwise errors into messages and exit codes."""
    logger = logging.getLogger("portwise")
    logger.addHandler(_WarningsOnStderr(logging.WARNING))
    logger.propagate = False
    try:
        app()
    except PortwiseError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint: {escape(exc.hint)}[/]", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
