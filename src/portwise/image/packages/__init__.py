"""Package database readers: pure functions from a database's bytes to package records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PackageRecord:
    """One package as its database states it; times are Unix seconds when the database has them."""

    name: str
    version: str
    architecture: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    installed_at: int | None = None
    built_at: int | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Records read, plus problems met on the way (a bad entry is reported and reading goes on)."""

    packages: list[PackageRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
