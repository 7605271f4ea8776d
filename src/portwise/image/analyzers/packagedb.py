"""Analyzers over package databases; the parsing itself lives in image/packages/."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from portwise.image.packages import ParseResult, apk, dpkg, rpm

ParseFn = Callable[[bytes], ParseResult]


def encode(result: ParseResult) -> dict[str, Any]:
    return {
        "packages": [list(dataclasses.astuple(p)) for p in result.packages],
        "problems": result.problems,
    }


class DpkgAnalyzer:
    name = "dpkg"
    version = 2

    def wants(self, path: str, size: int, mode: int) -> bool:
        if path == dpkg.STATUS_PATH:
            return True
        return path.startswith(dpkg.STATUS_DIR + "/") and not path.endswith(".md5sums")

    def analyze(self, path: str, content: bytes) -> Any:
        return encode(dpkg.parse_status(content, where=path))


class ApkAnalyzer:
    name = "apk"
    version = 1

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path == apk.INSTALLED_PATH

    def analyze(self, path: str, content: bytes) -> Any:
        return encode(apk.parse_installed(content, where=path))


class RpmAnalyzer:
    name = "rpm"
    version = 1
    parsers: dict[str, ParseFn] = {
        "sqlite": rpm.parse_sqlite,
        "bdb": rpm.parse_bdb,
        "ndb": rpm.parse_ndb,
    }

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in rpm.DATABASE_PATHS

    def analyze(self, path: str, content: bytes) -> Any:
        return encode(self.parsers[rpm.DATABASE_PATHS[path]](content))
