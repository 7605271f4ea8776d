"""The command line: parse, call one API function, render; errors become a line and an exit code.

Start-up matters (a warm rescan is mostly start-up): this module imports typer and nothing
heavy; each command imports what it needs when it runs.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from portwise import __version__, exits

if TYPE_CHECKING:
    from rich.console import Console

    from portwise.image.scan import ScanOptions
    from portwise.model.host import HostProfile
    from portwise.model.verdict import CheckReport

HELP = "Will this container image run on that host? If not, why, and what to do."
CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help=HELP,
    epilog=exits.HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    rich_markup_mode=None,
)
cache_app = typer.Typer(
    help="Inspect or clear the per-layer cache.", no_args_is_help=True, context_settings=CONTEXT
)
app.add_typer(cache_app, name="cache")
host_app = typer.Typer(
    help="Profile a container host, or show a reference host from the catalog.",
    invoke_without_command=True,
    context_settings=CONTEXT,
)
app.add_typer(host_app, name="host")
suite_app = typer.Typer(
    help="Regression suites: cases, known failures, mitigations.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_typer(suite_app, name="suite")

# set by the root options; the consoles are made when first used
_settings = {"quiet": False, "color": True}
_consoles: dict[str, Console] = {}


def _console(name: str) -> Console:
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(
            stderr=name == "err",
            soft_wrap=True,  # a long line is the terminal's to wrap: copying it stays whole
            emoji=False,  # ":x:" in an image's text stays ":x:"
            highlight=False,
            color_system="auto" if _settings["color"] else None,
        )
    return _consoles[name]


def _out() -> Console:
    return _console("out")


def _err() -> Console:
    return _console("err")


def _note(text: str) -> None:
    """A remark on stderr (not the report): silenced by --quiet."""
    if not _settings["quiet"]:
        from portwise.report.outside import data

        _err().print(data(text))


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"portwise {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Print the version.", callback=_version, is_eager=True
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or remarks on stderr.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colors or styles (also: NO_COLOR=1).")
    ] = False,
) -> None:
    _settings["quiet"] = quiet or _settings["quiet"]
    _settings["color"] = not no_color


# the options every command that reads images shares (scan, check, test, explain)
Platform = Annotated[
    str | None,
    typer.Option(help="Platform in a multi-arch index: os/arch or os/arch/variant."),
]
AllPlatforms = Annotated[
    bool, typer.Option("--all-platforms", help="Every platform of a multi-arch index.")
]
CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Where the layer cache lives (default: user cache dir)."),
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]
MaxLayerSize = Annotated[
    str, typer.Option(help="Refuse a layer that unpacks to more than this (e.g. 32G).")
]
AllowDeviceNodes = Annotated[
    bool, typer.Option(help="Deprecated, no effect: device nodes are always recorded.")
]
TlsVerify = Annotated[
    bool, typer.Option(help="Verify registry TLS certificates (docker:// references).")
]
CpuScan = Annotated[
    bool,
    typer.Option(
        "--cpu-scan",
        help="Disassemble x86-64 binaries with no ISA-level note to find the CPU level they "
        "need (slower; without it their level is unknown, never assumed).",
    ),
]
Authfile = Annotated[
    Path | None,
    typer.Option(
        "--authfile",
        help="Registry credentials file, as for skopeo and podman (default: "
        "REGISTRY_AUTH_FILE, then containers' auth.json).",
    ),
]
Creds = Annotated[
    str | None,
    typer.Option("--creds", help="USER[:PASSWORD] for the registry (docker:// references)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or remarks on stderr.")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report here, not to stdout.")
]
Catalogs = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="A directory of your own host files (extends the catalog)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (see `portwise schema`).")]


def _complete_hosts(incomplete: str) -> list[str]:
    """Shell completion for --host: the catalog's names and 'local'."""
    from portwise.host.catalog import catalog_names

    return [n for n in ("local", *catalog_names()) if n.startswith(incomplete)]


def _scan_options(
    *,
    platform: str | None = None,
    all_platforms: bool = False,
    cache_dir: Path | None = None,
    no_cache: bool = False,
    max_layer_size: str = "32G",
    allow_device_nodes: bool = False,
    tls_verify: bool = True,
    cpu_scan: bool = False,
    authfile: Path | None = None,
    creds: str | None = None,
) -> ScanOptions:
    from portwise.errors import UsageError
    from portwise.image.analyzers import with_options
    from portwise.image.layers import Limits
    from portwise.image.scan import ScanOptions
    from portwise.units import parse_size

    if authfile is not None and not authfile.is_file():
        raise UsageError(f"--authfile {authfile}: no such file")
    return ScanOptions(
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
        authfile=authfile,
        creds=creds,
    )


def _quiet(quiet: bool) -> None:
    _settings["quiet"] = quiet or _settings["quiet"]


def _progress_shown() -> bool:
    return not _settings["quiet"] and _err().is_terminal


def _write(output: Path, text: str, what: str) -> None:
    from portwise.errors import UsageError

    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    _note(f"wrote {what} to {output}")


def _emit(text: str, output: Path | None, what: str) -> None:
    """A finished document (JSON, SARIF, XML) to stdout or to --output."""
    if output is None:
        sys.stdout.write(text)
    else:
        _write(output, text, what)


@contextmanager
def _report(output: Path | None, what: str = "the report") -> Iterator[Console]:
    """A console for a rendered report: the terminal, or plain text into --output."""
    if output is None:
        yield _out()
        return
    from rich.console import Console

    buffer = io.StringIO()
    yield Console(file=buffer, width=120, color_system=None, emoji=False, highlight=False)
    _write(output, buffer.getvalue(), what)


@app.command("scan", epilog=exits.HELP)
def scan_command(
    image: Annotated[
        str,
        typer.Argument(
            help="Image: oci:DIR[:TAG], oci-archive:, docker-archive:, rootfs:, "
            "containers-storage:, docker://, a path, or a name such as alpine:3.19."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the ImageProfile as JSON.")
    ] = False,
    output: Output = None,
    show_files: Annotated[bool, typer.Option(help="List every file in the summary.")] = False,
    platform: Platform = None,
    all_platforms: AllPlatforms = False,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    max_layer_size: MaxLayerSize = "32G",
    allow_device_nodes: AllowDeviceNodes = False,
    tls_verify: TlsVerify = True,
    cpu_scan: CpuScan = False,
    authfile: Authfile = None,
    creds: Creds = None,
    quiet: Quiet = False,
) -> None:
    """Read an image (never extracting it) and print what its user space is made of."""
    from portwise.check import load_images
    from portwise.report.terminal import ScanProgress, render_profile

    _quiet(quiet)
    options = _scan_options(
        platform=platform,
        all_platforms=all_platforms,
        cache_dir=cache_dir,
        no_cache=no_cache,
        max_layer_size=max_layer_size,
        allow_device_nodes=allow_device_nodes,
        tls_verify=tls_verify,
        cpu_scan=cpu_scan,
        authfile=authfile,
        creds=creds,
    )
    with ScanProgress(_err(), enabled=_progress_shown()) as progress:
        profiles = load_images([image], options, progress.on_layer)
    if as_json:
        documents = [p.model_dump_json(indent=2) for p in profiles]
        text = "[\n" + ",\n".join(documents) + "\n]" if all_platforms else documents[0]
        _emit(text + "\n", output, "the image profile")
        return
    with _report(output) as console:
        for profile in profiles:
            render_profile(console, profile, show_files=show_files)


@host_app.callback()
def host_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the HostProfile as JSON.")] = False,
    output: Output = None,
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
    from portwise.host.collect import collect_host

    _print_host(collect_host(root, name), as_json, seccomp, output)


@host_app.command("show")
def host_show(
    name: Annotated[
        str,
        typer.Argument(
            help="A catalog host (e.g. ubuntu-20.04-docker-20.10.9) or a HostProfile JSON file."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the HostProfile as JSON.")] = False,
    output: Output = None,
    catalog: Catalogs = None,
    seccomp: Annotated[
        bool, typer.Option("--seccomp", help="Print what its default seccomp profile answers.")
    ] = False,
) -> None:
    """Show a reference host from the catalog, or a saved host profile."""
    from portwise.check import load_host
    from portwise.host.catalog import load_catalog_host

    if name.endswith(".json") or Path(name).is_file():
        profile = load_host(name, catalog or [])
    else:
        profile = load_catalog_host(name, catalog or [])
    _print_host(profile, as_json, seccomp, output)


@app.command("hosts")
def hosts_command(
    catalog: Catalogs = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list, one object per host.")
    ] = False,
    output: Output = None,
) -> None:
    """List the reference hosts of the catalog (and of --catalog directories)."""
    import json

    from portwise.host.catalog import catalog_names, load_catalog_host
    from portwise.report.terminal import host_rows, render_hosts

    hosts = [load_catalog_host(name, catalog or []) for name in catalog_names(catalog or [])]
    if as_json:
        _emit(json.dumps(host_rows(hosts), indent=2) + "\n", output, "the host list")
        return
    with _report(output) as console:
        render_hosts(console, hosts)


def _print_host(
    profile: HostProfile, as_json: bool, seccomp: bool = False, output: Path | None = None
) -> None:
    from portwise.host.seccomp_table import seccomp_table
    from portwise.report.terminal import render_host, render_seccomp

    if as_json and not seccomp:
        _emit(profile.model_dump_json(indent=2) + "\n", output, "the host profile")
        return
    with _report(output) as console:
        if seccomp:
            render_seccomp(console, profile, seccomp_table(profile))
        else:
            render_host(console, profile)


Format = Annotated[str, typer.Option("--format", "-f", help="table | json | sarif | junit")]


@app.command("check", epilog=exits.HELP)
def check_command(
    images: Annotated[
        list[str],
        typer.Argument(
            help="Images (as for scan; scanned and cached) or saved ImageProfile JSON files."
        ),
    ],
    hosts: Annotated[
        list[str],
        typer.Option(
            "--host",
            help="A catalog name, a HostProfile JSON file, or 'local'.",
            autocompletion=_complete_hosts,
        ),
    ],
    output_format: Format = "table",
    output: Output = None,
    fail_on: Annotated[
        str,
        typer.Option(help="fail: exit 2 on FAIL; risk: also exit 1 on RISK; never: exit 0."),
    ] = "fail",
    catalog: Catalogs = None,
    details: Annotated[bool, typer.Option(help="Print each finding under the table.")] = True,
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
    platform: Platform = None,
    all_platforms: AllPlatforms = False,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    max_layer_size: MaxLayerSize = "32G",
    allow_device_nodes: AllowDeviceNodes = False,
    tls_verify: TlsVerify = True,
    cpu_scan: CpuScan = False,
    authfile: Authfile = None,
    creds: Creds = None,
    quiet: Quiet = False,
) -> None:
    """Will these images run on these hosts? PASS, RISK or FAIL per pair, why, and what to do."""
    from portwise.check import engine_views, exit_code, load_host, load_images, run_check
    from portwise.errors import UsageError
    from portwise.host.meaning import with_seccomp
    from portwise.report.terminal import ScanProgress

    _quiet(quiet)
    if output_format not in FORMATS:
        raise UsageError(f"unknown --format {output_format!r}; use one of {', '.join(FORMATS)}")
    if fail_on not in ("fail", "risk", "never"):
        raise UsageError(f"unknown --fail-on {fail_on!r}; use fail, risk or never")
    host_profiles = [
        with_seccomp(view, seccomp_choice) if seccomp_choice else view
        for spec in hosts
        for view in engine_views(load_host(spec, catalog or []), engine)
    ]
    options = _scan_options(
        platform=platform,
        all_platforms=all_platforms,
        cache_dir=cache_dir,
        no_cache=no_cache,
        max_layer_size=max_layer_size,
        allow_device_nodes=allow_device_nodes,
        tls_verify=tls_verify,
        cpu_scan=cpu_scan,
        authfile=authfile,
        creds=creds,
    )
    with ScanProgress(_err(), enabled=_progress_shown()) as progress:
        profiles = load_images(images, options, progress.on_layer)
    report = run_check(profiles, host_profiles)
    if output_format == "table":
        from portwise.report.verdicts import render_check

        with _report(output, "table report") as console:
            render_check(console, report, details=details)
    else:
        _emit(REPORTS[output_format](report, fail_on), output, f"{output_format} report")
    code = exit_code(report, fail_on)
    if code:
        raise typer.Exit(code)


def _json_text(report: CheckReport, fail_on: str) -> str:
    return report.model_dump_json(indent=2) + "\n"


def _sarif_text(report: CheckReport, fail_on: str) -> str:
    import json

    from portwise.report.sarif import to_sarif

    return json.dumps(to_sarif(report), indent=2) + "\n"


def _junit_text(report: CheckReport, fail_on: str) -> str:
    from portwise.report.junit import to_junit

    return to_junit(report, fail_on="risk" if fail_on == "risk" else "fail")


REPORTS: dict[str, Callable[[CheckReport, str], str]] = {
    "json": _json_text,
    "sarif": _sarif_text,
    "junit": _junit_text,
}
FORMATS = ("table", *REPORTS)

TEST_EXIT = {
    "PASS": exits.PASS,
    "FAIL": exits.FAIL,
    "NOT RUN": exits.NOT_RUN,
    "DISAGREE": exits.DISAGREE,
}


@app.command("test", epilog=exits.HELP)
def test_command(
    image: Annotated[str, typer.Argument(help="Image (as for scan).")],
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Catalog name, HostProfile JSON or local.",
            autocompletion=_complete_hosts,
        ),
    ],
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
    output: Output = None,
    binfmt_setup: Annotated[
        bool,
        typer.Option(
            "--binfmt-setup/--no-binfmt-setup",
            help="A foreign image and no binfmt_misc handler: as root, register qemu-user-static's "
            "(update-binfmts), and say so; --no-binfmt-setup: NOT RUN, with the command.",
        ),
    ] = True,
    host_engine: Annotated[
        str | None,
        typer.Option(
            "--host-engine",
            help="Which of the host's engines to emulate (docker, podman...), when it records"
            " several.",
        ),
    ] = None,
    catalog: Catalogs = None,
    platform: Platform = None,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    max_layer_size: MaxLayerSize = "32G",
    allow_device_nodes: AllowDeviceNodes = False,
    tls_verify: TlsVerify = True,
    cpu_scan: CpuScan = False,
    authfile: Authfile = None,
    creds: Creds = None,
    quiet: Quiet = False,
) -> None:
    """Run the image for real under a host's constraints, and compare with `portwise check`.

    Status: PASS (0) every probe that ran passed; FAIL (2) a probe failed, as portwise check
    predicted; NOT RUN (3) no probe ran to an outcome (the reason and a fix are printed);
    DISAGREE (5) the run contradicts portwise check, whatever it observed.
    """
    from portwise.check import load_host, load_images, one_engine
    from portwise.errors import UsageError
    from portwise.image.cache import default_cache_dir
    from portwise.report.outside import line
    from portwise.report.run import RunProgress, render_run
    from portwise.runtime.run import RunOptions, record_disagreement, run_test

    _quiet(quiet)
    if engine not in ("runc", "crun", "podman"):
        raise UsageError(f"unknown --engine {engine!r}; use runc, crun or podman")
    if timeout <= 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {timeout:g}")
    host_profile = one_engine(load_host(host, catalog or []), host_engine)
    options = _scan_options(
        platform=platform,
        cache_dir=cache_dir,
        no_cache=no_cache,
        max_layer_size=max_layer_size,
        allow_device_nodes=allow_device_nodes,
        tls_verify=tls_verify,
        cpu_scan=cpu_scan,
        authfile=authfile,
        creds=creds,
    )
    err = _err()
    with RunProgress(err, enabled=_progress_shown()) as progress:
        progress.say("scanning the image")
        (profile, *_) = load_images([image], options)
        run_options = RunOptions(
            engine=engine,  # type: ignore[arg-type]
            commands=probe or [],
            timeout=timeout,
            trace=trace,
            podman_runtime=runtime,
            binfmt_setup=binfmt_setup,
        )
        report = run_test(profile, host_profile, run_options, progress.say)
    recorded = record_disagreement(report, cache_dir or default_cache_dir())
    if as_json:
        _emit(report.model_dump_json(indent=2) + "\n", output, "the run report")
        for change in report.host_changes:
            err.print(line(("changed this machine:", "bold yellow"), " ", change))
    else:
        with _report(output) as console:
            render_run(console, report)
        if recorded:
            _note(f"recorded in {recorded}")
    if report.status == "NOT RUN":
        err.print(line(("not run:", "bold yellow"), " ", report.not_run_why or ""))
        if report.not_run_hint:
            err.print(line((f"to run it: {report.not_run_hint}", "dim")))
    code = TEST_EXIT[report.status]
    if code:
        raise typer.Exit(code)


@suite_app.command("run", epilog=exits.HELP)
def suite_run(
    file: Annotated[Path, typer.Argument(help="A suite file (YAML; see examples/suites).")],
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (a case per run).")
    ] = None,
    output: Output = None,
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
    quiet: Quiet = False,
) -> None:
    """Run every case and mitigation check of a suite.

    Exit 0 when every run is as expected; 2 when one is not (an outcome or a named probe other
    than expected, a mitigation that did not mitigate); 5 when a run disagrees with portwise
    check and the case does not allow it; 65 for a bad suite file.
    """
    from portwise.errors import UsageError
    from portwise.image.cache import default_cache_dir
    from portwise.report.outside import line
    from portwise.report.suite import render_suite
    from portwise.report.suite_junit import to_suite_junit
    from portwise.suite.load import Run, load_suite
    from portwise.suite.run import SuiteOptions, run_suite

    _quiet(quiet)
    if engine not in ("runc", "crun", "podman"):
        raise UsageError(f"unknown --engine {engine!r}; use runc, crun or podman")
    suite = load_suite(file, catalog or [])
    err = _err()

    def progress(run: Run, index: int, total: int) -> None:
        err.print(line(f"[{index + 1}/{total}] {run.name}"))

    options = SuiteOptions(
        engine=engine,  # type: ignore[arg-type]
        podman_runtime=runtime,
        cache_dir=cache_dir,
        journal_dir=cache_dir or default_cache_dir(),
        binfmt_setup=binfmt_setup,
    )
    report = run_suite(suite, options, progress if _progress_shown() else None)
    for change in dict.fromkeys(c for r in report.results for c in r.report.host_changes):
        err.print(line(("changed this machine:", "bold yellow"), " ", change))
    with _report(output, "the suite summary") as console:
        render_suite(console, report)
    if junit is not None:
        _write(junit, to_suite_junit(report), "JUnit XML")
    if not report.ok:
        disagrees = any(
            not r.ok and any(p.startswith("disagrees") for p in r.problems) for r in report.results
        )
        raise typer.Exit(exits.DISAGREE if disagrees else exits.FAIL)


@app.command("explain")
def explain_command(
    topic: Annotated[
        str, typer.Argument(help="A mechanism, finding id or incident id; with --image, a syscall.")
    ],
    image: Annotated[
        str | None,
        typer.Option(help="Show every way this image (reference or saved JSON) reaches TOPIC."),
    ] = None,
    output: Output = None,
    cache_dir: CacheDir = None,
) -> None:
    """Print what a mechanism checks and why, or a documented incident with its sources.

    With --image, which binaries issue a system call, at which sites, by which path.
    """
    from portwise.check import load_images
    from portwise.errors import UsageError
    from portwise.knowledge.syscalls import is_syscall
    from portwise.report.explain import render_explain, render_syscall_uses
    from portwise.rules import MECHANISMS

    if image is None:
        if is_syscall(topic) and topic not in {m.id for m in MECHANISMS}:
            raise UsageError(
                f"{topic!r} is a system call: say which image",
                hint=f"portwise explain {topic} --image IMAGE",
            )
        with _report(output) as console:
            render_explain(console, topic)
        return
    if not is_syscall(topic):
        raise UsageError(f"{topic!r} is not a system call name", hint="e.g. clone3, statx")
    (profile, *_) = load_images([image], _scan_options(cache_dir=cache_dir))
    with _report(output) as console:
        render_syscall_uses(console, profile, topic)


SCHEMA_NAMES = ("image", "host", "verdict", "run")  # model.schema.SCHEMAS (a test compares)


@app.command("schema")
def schema_command(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(SCHEMA_NAMES)}")],
    output: Output = None,
) -> None:
    """Print the versioned JSON Schema of a portwise document."""
    from portwise.model.schema import schema_json

    _emit(schema_json(name) + "\n", output, f"the {name} schema")


@cache_app.command("info")
def cache_info(cache_dir: CacheDir = None) -> None:
    """Where the cache is, what it holds, and damaged copies set aside (checks every page)."""
    from portwise.image.cache import LayerCache, default_cache_dir
    from portwise.report.outside import data
    from portwise.units import human_size

    cache = LayerCache(cache_dir or default_cache_dir())
    info = cache.info()
    cache.close()
    _out().print(
        data(
            f"{info.path}: {info.layers} cached layers, {info.profiles} cached image profiles, "
            f"{human_size(info.size)}" + ("" if info.usable else " (not usable: see the warning)")
        )
    )
    for path in info.set_aside:
        _out().print(data(f"damaged, set aside: {path}"))


@cache_app.command("clear")
def cache_clear(cache_dir: CacheDir = None) -> None:
    """Forget every cached layer and image, and delete damaged copies set aside."""
    from portwise.image.cache import LayerCache, default_cache_dir
    from portwise.report.outside import data

    cache = LayerCache(cache_dir or default_cache_dir())
    removed = cache.clear()
    set_aside = cache.remove_set_aside()
    cache.close()
    _out().print(
        data(
            f"removed {removed} cached layers from {cache.path}"
            + (f" and {set_aside} damaged copies set aside" if set_aside else "")
        )
    )


class _WarningsOnStderr(logging.Handler):
    """portwise's warnings (a damaged or full cache) printed through the stderr console, so a
    live progress display stays intact."""

    def emit(self, record: logging.LogRecord) -> None:
        from portwise.report.outside import line

        _err().print(line(("warning:", "yellow"), " ", record.getMessage()))


def run(args: list[str] | None = None) -> int:
    """Run the command line; the one place that turns errors into messages and exit codes."""
    from portwise.errors import PortwiseError

    logger = logging.getLogger("portwise")
    if not any(isinstance(h, _WarningsOnStderr) for h in logger.handlers):
        logger.addHandler(_WarningsOnStderr(logging.WARNING))
    logger.propagate = False
    try:
        code = app(args=args, prog_name="portwise", standalone_mode=False)
    except PortwiseError as exc:
        from portwise.report.outside import line

        _err().print(line(("error:", "bold red"), " ", exc.message))
        if exc.hint:
            _err().print(line((f"hint: {exc.hint}", "dim")))
        return exc.exit_code
    except typer.Abort:
        _err().print("aborted")
        return exits.INTERRUPTED
    except Exception as exc:  # click's usage errors, then anything else: a bug
        from typer._click.exceptions import ClickException

        if isinstance(exc, ClickException):  # a bare `portwise` shows the help this way too
            exc.show()
            return exits.USAGE
        import traceback

        traceback.print_exc()
        _err().print(
            "internal error: a bug in portwise; please report it with the traceback above",
            style="bold red",
        )
        return exits.INTERNAL
    return code if isinstance(code, int) else exits.PASS


def main() -> None:
    """Entry point of the `portwise` script and of `python -m portwise`."""
    sys.exit(run())
