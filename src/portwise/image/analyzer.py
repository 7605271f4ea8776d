"""The analyzer contract: what runs over each layer's files while the layer streams past.

An analyzer names the paths it wants (decided from the tar header alone, so unwanted data is
never copied) and turns one file's bytes into a JSON-able result. Results are cached per layer
under the analyzer's name and version, so changing what an analyzer returns means bumping its
version. An analyzer may also set `max_bytes`: a wanted file larger than that is not read, and
the scan notes it (a metadata file of megabytes is hostile or broken, never silently dropped).
"""

from __future__ import annotations

from typing import Any, Protocol


class Analyzer(Protocol):
    name: str
    version: int

    def wants(self, path: str, size: int, mode: int) -> bool:
        """Whether this file's bytes are needed; `path` is normalised (no leading slash)."""
        ...

    def analyze(self, path: str, content: bytes) -> Any:
        """A JSON-able result for this file, or None when it holds nothing of interest.

        Raise ValueError for a file that is of the right kind but cannot be read: the scan
        records it as an unknown with its place and goes on.
        """
        ...
