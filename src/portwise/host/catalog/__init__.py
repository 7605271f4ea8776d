"""Reference container hosts as data files: one HostProfile JSON per host, every fact sourced.

The catalog lets a user judge an image against a host they cannot log in to (RHEL 7.9 with
docker 1.13, Ubuntu 20.04 with Docker 20.10.9, ...). Entries are validated when they load, so a
bad file is reported with its path instead of surfacing later as a wrong verdict. A user's own
directories extend the packaged catalog and override entries of the same name.

A fact nobody has confirmed against a public page is recorded as unknown, its reason naming where
to check; a recalled value is never stored as if it were read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from portwise.errors import InputError, UsageError
from portwise.host.meaning import checked
from portwise.model.host import HostProfile

CATALOG_DIR = Path(__file__).resolve().parent
SUFFIX = ".json"


def _entries(extra_dirs: Sequence[Path] = ()) -> dict[str, Path]:
    """Map catalog id to file; later directories win so a user's entry overrides ours."""
    found: dict[str, Path] = {}
    for directory in (CATALOG_DIR, *extra_dirs):
        if not directory.is_dir():
            raise UsageError(f"catalog directory {directory} does not exist")
        for path in sorted(directory.glob(f"*{SUFFIX}")):
            found[path.name.removesuffix(SUFFIX)] = path
    return found


def catalog_names(extra_dirs: Sequence[Path] = ()) -> list[str]:
    """The ids a user can pass as a host name, sorted for stable listings."""
    return sorted(_entries(extra_dirs))


def did_you_mean(name: str, names: Iterable[str]) -> str | None:
    """'did you mean X?' for a misspelled host name, or None when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(close)}?" if close else None


def _describe(error: ValidationError) -> str:
    """The first few pydantic errors as 'location: message', so the user can find the field."""
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(p) for p in item["loc"]) or "(document)"
        parts.append(f"{location}: {item['msg']}")
    more = error.error_count() - len(parts)
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _load_file(path: Path) -> HostProfile:
    """Parse and validate one entry; every failure names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"catalog file {path}: cannot be read: {exc}") from exc
    try:
        profile = HostProfile.model_validate_json(text)
    except ValidationError as exc:
        raise InputError(
            f"catalog file {path} is not a valid host profile: {_describe(exc)}"
        ) from exc
    expected = path.name.removesuffix(SUFFIX)
    if profile.name != expected:
        raise InputError(
            f"catalog file {path}: name {profile.name!r} does not match the file name {expected!r}"
        )
    return checked(profile, f"catalog file {path}")


def load_catalog_host(name: str, extra_dirs: Sequence[Path] = ()) -> HostProfile:
    """The catalogued HostProfile called `name`; unknown names list the known ones."""
    entries = _entries(extra_dirs)
    path = entries.get(name)
    if path is None:
        raise UsageError(
            f"no catalog host named {name!r}",
            hint=did_you_mean(name, entries)
            or "`portwise hosts` lists the catalog; add a HostProfile JSON file <name>.json to a"
            " catalog directory",
        )
    return _load_file(path)


def catalog_errors(directory: Path) -> list[str]:
    """Every problem in a user's catalog directory, one message per file, for a lint step."""
    if not directory.is_dir():
        return [f"catalog directory {directory} does not exist"]
    problems: list[str] = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            _load_file(path)
        except (UsageError, InputError) as exc:
            problems.append(exc.message)
    return problems
