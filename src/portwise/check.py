"""`portwise check`: gather image and host profiles from what the user named, judge every pair.

Images are references (scanned, using the layer cache) or saved ImageProfile JSON; hosts are
`local`, a HostProfile JSON file, or a catalog name. Loading lives here so the CLI stays thin
and the judging (verdict.py) never learns where a profile came from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from portwise import __version__, exits
from portwise.errors import InputError, UsageError
from portwise.host.catalog import catalog_names, did_you_mean, load_catalog_host
from portwise.host.collect import collect_host
from portwise.host.meaning import checked
from portwise.host.setups import per_engine, with_setup
from portwise.image.names import resolve
from portwise.image.scan import LayerProgress, ScanOptions, scan
from portwise.knowledge import incidents, oci_runtimes, seccomp
from portwise.knowledge.libc import model_version
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import CheckReport, Status
from portwise.verdict import check

LOCAL = "local"


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:5]
    )


def _saved_profile(path: Path) -> list[ImageProfile]:
    """A saved `portwise scan --json` document: one profile or a list of them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"image profile {path}: cannot be read as JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    try:
        return [ImageProfile.model_validate(item) for item in items]
    except ValidationError as exc:
        raise InputError(
            f"image profile {path} is not a valid ImageProfile: {_errors(exc)}"
        ) from exc


def load_images(
    references: Sequence[str],
    options: ScanOptions,
    on_layer: LayerProgress | None = None,
) -> list[ImageProfile]:
    profiles: list[ImageProfile] = []
    for ref in references:
        path = Path(ref)
        if ref.endswith(".json") and path.is_file():
            profiles.extend(_saved_profile(path))
        else:
            profiles.extend(scan(resolve(ref), options, on_layer))
    return profiles


def load_host(spec: str, catalogs: Sequence[Path] = ()) -> HostProfile:
    if spec == LOCAL:
        return collect_host(Path("/"), LOCAL)
    path = Path(spec)
    if spec.endswith(".json") or path.is_file():
        if not path.is_file():
            raise InputError(f"host profile file {spec} does not exist")
        try:
            host = HostProfile.model_validate_json(path.read_text(encoding="utf-8"))
            return checked(host, f"host profile {spec}")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"host profile {spec}: cannot be read: {exc}") from exc
        except ValidationError as exc:
            raise InputError(
                f"host profile {spec} is not a valid HostProfile: {_errors(exc)}"
            ) from exc
    names = catalog_names(catalogs)
    if spec not in names:
        raise UsageError(
            f"unknown host {spec!r}: not 'local', not a file, not a catalog name",
            hint=did_you_mean(spec, names) or "`portwise hosts` lists the catalog",
        )
    return load_catalog_host(spec, catalogs)


def engine_views(host: HostProfile, engine: str | None = None) -> list[HostProfile]:
    """The host once per engine on it (docker and podman judged apart), or only `engine`."""
    views = per_engine(host)
    if engine is None:
        return views
    if not host.engines.setups:  # a host that describes one engine: it must be that one
        named = {t.name for t in host.engines.engines.value or []}
        if engine in named or (engine == "docker" and "dockerd" in named):
            return [host]
        listed = ", ".join(sorted(named)) or "no engines"
        raise UsageError(f"--engine {engine}: host {host.name} records {listed}")
    present = [s.engine for s in host.engines.setups]
    chosen = [s for s in host.engines.setups if s.engine == engine]
    if not chosen:
        raise UsageError(
            f"--engine {engine}: host {host.name} records the engines {', '.join(present)}",
            hint="`portwise host --json` shows engines.setups",
        )
    return [with_setup(host, chosen[0], rename=False)]


def one_engine(host: HostProfile, engine: str | None) -> HostProfile:
    """The host as one engine sees it: a run emulates one profile, so with several engines
    recorded the user names which (never silently the first)."""
    views = engine_views(host, engine)
    if len(views) > 1:
        names = ", ".join(s.engine for s in host.engines.setups)
        raise UsageError(
            f"host {host.name} records several engines ({names}): name the one to emulate",
            hint="--host-engine " + host.engines.setups[0].engine,
        )
    return views[0]


def knowledge_versions() -> dict[str, str]:
    return {
        "seccomp": seccomp.data_version(),
        "oci_runtimes": oci_runtimes.data_version(),
        "libc": model_version(),
        "incidents": incidents.data_version(),
    }


def run_check(images: Sequence[ImageProfile], hosts: Sequence[HostProfile]) -> CheckReport:
    matrix = check(images, hosts)
    return CheckReport(
        portwise_version=__version__,
        knowledge=knowledge_versions(),
        verdicts=matrix.verdicts(),
    )


def exit_code(report: CheckReport, fail_on: str) -> int:
    """0 when every pair passes; 2 on any FAIL; 1 on RISK only with --fail-on risk."""
    if fail_on == "never":
        return exits.PASS
    statuses: set[Status] = {v.status for v in report.verdicts}
    if "FAIL" in statuses:
        return exits.FAIL
    if "RISK" in statuses and fail_on == "risk":
        return exits.RISK
    return exits.PASS
