"""A knowledge data file loaded once: validated model, content digest and an index of entries;
and the record types every such file shares (frozen records, sources).

The libc and caller models share this shape: entries looked up by (family or component, name),
and a version string that changes with any edit of the data (it is part of cache keys).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.resources import files
from typing import Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Frozen(BaseModel):
    """Knowledge records: unknown keys are errors, values never change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Frozen):
    """Where a fact comes from: an https URL, a short quote in our words, more URLs."""

    url: str = Field(pattern=r"^https://")
    quote: str = Field(min_length=10)
    also: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _urls(self) -> Self:
        for url in self.also:
            if not url.startswith("https://"):
                raise ValueError(f"not an https URL: {url!r}")
        return self


M = TypeVar("M", bound=BaseModel)
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Indexed(Generic[M, E]):
    model: M
    digest: str  # first 12 hex digits of the file's sha256
    index: dict[tuple[str, str], tuple[E, ...]]

    def version(self) -> str:
        """Data version plus a content digest, so a cache key changes with any edit."""
        return f"{getattr(self.model, 'model_version', '?')}+{self.digest}"


def load_indexed(
    package: str,
    name: str,
    model_type: type[M],
    entries: Callable[[M], Iterable[E]],
    keys: Callable[[E], Iterable[tuple[str, str]]],
) -> Indexed[M, E]:
    """Validate `name` in `package` (raises pydantic.ValidationError) and index its entries."""
    raw = files(package).joinpath(name).read_bytes()
    model = model_type.model_validate_json(raw)
    index: dict[tuple[str, str], list[E]] = {}
    for entry in entries(model):
        for key in keys(entry):
            index.setdefault(key, []).append(entry)
    frozen = {key: tuple(value) for key, value in index.items()}
    return Indexed(model, hashlib.sha256(raw).hexdigest()[:12], frozen)
