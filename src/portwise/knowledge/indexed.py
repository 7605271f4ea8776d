"""A knowledge data file loaded once: validated model, content digest and an index of entries.

The libc and caller models share this shape: entries looked up by (family or component, name),
and a version string that changes with any edit of the data (it is part of cache keys).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.resources import files
from typing import Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Indexed(Generic[M, E]):
    model: M
    digest: str  # first 12 hex digits of the file's sha256
    index: dict[tuple[str, str], tuple[E, ...]]


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
