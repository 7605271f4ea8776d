"""apk's installed database (`lib/apk/db/installed`) -> package records.

The format (apk-tools documentation, "Installed database" / apk-spec(5) v2): stanzas separated
by blank lines, one `X:value` field per line; P name, V version, A architecture, o origin
(source package), t build time (Unix seconds).
"""

from __future__ import annotations

from portwise.image.packages import PackageRecord, ParseResult

INSTALLED_PATH = "lib/apk/db/installed"


def parse_installed(content: bytes, *, where: str = INSTALLED_PATH) -> ParseResult:
    result = ParseResult()
    fields: dict[str, str] = {}
    start = 1
    lines = content.decode("utf-8", "replace").splitlines()
    for number, line in enumerate([*lines, ""], 1):
        if line.strip():
            if len(line) < 2 or line[1] != ":":
                result.problems.append(f"{where}:{number}: malformed line {line[:60]!r}")
                continue
            fields.setdefault(line[0], line[2:])
            continue
        if fields:
            _flush(fields, start, where, result)
        fields, start = {}, number + 1
    return result


def _flush(fields: dict[str, str], line: int, where: str, result: ParseResult) -> None:
    name, version = fields.get("P"), fields.get("V")
    if not name or not version:
        result.problems.append(f"{where}:{line}: package entry without P: or V:")
        return
    built = fields.get("t")
    result.packages.append(
        PackageRecord(
            name=name,
            version=version,
            architecture=fields.get("A"),
            source_name=fields.get("o"),
            source_version=version if fields.get("o") else None,
            built_at=int(built) if built and built.isdigit() else None,
        )
    )
