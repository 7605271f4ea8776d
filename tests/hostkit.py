"""Host profiles for tests: a catalog host with some facts replaced, named by dotted paths.

Catalog hosts are real, sourced data; a test changes only the facts its case is about, and
says so in the replacement's source ("test: ..."), so a finding's evidence shows the change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portwise.host.catalog import load_catalog_host
from portwise.model.host import Fact, HostProfile
from portwise.model.image import ImageProfile


def fact(value: Any, why: str = "test") -> Fact[Any]:
    return Fact.of(value, f"test: {why}")


def unknown(why: str = "test: not recorded") -> Fact[Any]:
    return Fact.missing(why)


def host_with(base: str | HostProfile, name: str | None = None, **changes: Any) -> HostProfile:
    """`host_with("debian-12", kernel__page_size=fact(65536))`: `__` separates path parts."""
    host = load_catalog_host(base) if isinstance(base, str) else base
    data = host.model_dump()
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        if leaf not in node and not isinstance(node, dict):
            raise KeyError(dotted)
        node[leaf] = value.model_dump() if hasattr(value, "model_dump") else value
    data["name"] = name or f"{host.name}+{'+'.join(changes)}"
    return HostProfile.model_validate(data)


ScanReal = Callable[[str], ImageProfile]  # the real_profile fixture (tests/rules/conftest.py)
