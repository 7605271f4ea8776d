"""dpkg's status database (and distroless `status.d/` stanzas) -> package records.

Only packages dpkg still knows about are kept: `dpkg-query -W` skips those whose status is
`not-installed` (purged), and portwise matches it so the two can be compared line for line.
"""

from __future__ import annotations

from collections.abc import Iterator

from portwise.image.packages import PackageRecord, ParseResult

STATUS_PATH = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d"
INFO_DIR = "var/lib/dpkg/info"
_BAD = "\0bad"  # key under which a stanza keeps its first malformed line


def _stanzas(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, fields) for each blank-line separated stanza."""
    fields: dict[str, str] = {}
    key = ""
    start = 1
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, key = {}, ""
            start = number + 1
            continue
        if line[0] in " \t":
            if key:
                fields[key] += "\n" + line[1:]
            continue
        name, sep, value = line.partition(":")
        if not sep:
            fields.setdefault(_BAD, line)
            continue
        key = name.strip().lower()
        fields[key] = value.strip()
    if fields:
        yield start, fields


def _source(fields: dict[str, str], version: str) -> tuple[str | None, str | None]:
    """`Source: name (version)`; either part may be absent and then defaults to the binary's."""
    raw = fields.get("source")
    if not raw:
        return None, None
    name, _, rest = raw.partition(" ")
    source_version = rest.strip().strip("()").strip() or version
    return name, source_version


def parse_status(content: bytes, *, where: str = STATUS_PATH) -> ParseResult:
    """Parse a status file; a stanza that cannot be read is a problem, and parsing goes on."""
    result = ParseResult()
    text = content.decode("utf-8", "replace")
    for line_number, fields in _stanzas(text):
        if _BAD in fields:
            result.problems.append(f"{where}:{line_number}: malformed line {fields[_BAD]!r}")
            if len(fields) == 1:
                continue  # nothing but garbage: one problem is enough
        name = fields.get("package")
        version = fields.get("version")
        status = fields.get("status", "install ok installed").split()
        if not name:
            result.problems.append(f"{where}:{line_number}: stanza without a Package field")
            continue
        if len(status) == 3 and status[2] == "not-installed":
            continue
        if not version:
            result.problems.append(f"{where}:{line_number}: package {name} has no Version")
            continue
        source_name, source_version = _source(fields, version)
        result.packages.append(
            PackageRecord(
                name=name,
                version=version,
                architecture=fields.get("architecture"),
                source_name=source_name,
                source_version=source_version,
            )
        )
    return result


def info_list_names(name: str, architecture: str | None) -> tuple[str, ...]:
    """Where dpkg keeps a package's file list; its mtime is when dpkg last installed it."""
    names = [f"{INFO_DIR}/{name}.list"]
    if architecture:
        names.insert(0, f"{INFO_DIR}/{name}:{architecture}.list")
    return tuple(names)
