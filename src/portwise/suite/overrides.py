"""The override vocabulary: change a few facts of a host, the way a suite or a mitigation says.

A key is a host fact's dotted path as `portwise host show NAME --json` prints it, less the
`.value`: `kernel.release`, `engines.seccomp_profile`, `engines.libseccomp`, `cpu.x86_64_level`,
`security.sysctls.user.max_user_namespaces`. Two forms name one tool in a list of tools:
`engines.runtimes.NAME` (runc, crun) and `engines.engines.NAME` (docker, podman, containerd)
set that tool's version. Upgrading docker or containerd this way also gives the host the
default seccomp profile that version ships (knowledge/seccomp), unless the same override names
`engines.seccomp_profile` itself. Every changed fact records its source (the suite file and
line), so findings and run reports show what was changed and where.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from portwise.host.seccomp_table import UNCONFINED
from portwise.knowledge import seccomp
from portwise.model.host import Fact, HostProfile, Tool

TOOL_LISTS = ("engines.runtimes", "engines.engines")
# engines whose released default profiles knowledge/seccomp holds, by the profile name prefix
PROFILED_ENGINES = ("docker", "containerd")
SECCOMP_KEY = "engines.seccomp_profile"
NOT_FACTS = ("schema_version", "name", "root", "portwise_version")


@dataclass(frozen=True)
class Override:
    key: str
    value: Any
    source: str  # e.g. "suite clone3.yaml:12"


class OverrideError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _fact_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Fact)


def _fact_map(annotation: Any) -> bool:
    """dict[str, Fact[...]] (sysctls): the rest of the key names an entry."""
    if typing.get_origin(annotation) is not dict:
        return False
    _, value = typing.get_args(annotation)
    return _fact_type(value)


def target(key: str) -> list[str]:
    """The path of the fact `key` names in a HostProfile dump; OverrideError when it names none."""
    for prefix in TOOL_LISTS:
        if key == prefix:
            raise OverrideError(key, f"name one tool: {prefix}.NAME (e.g. {prefix}.runc)")
        if key.startswith(prefix + "."):
            tool = key[len(prefix) + 1 :]
            if not tool or "." in tool:
                raise OverrideError(key, f"name one tool: {prefix}.NAME (e.g. {prefix}.runc)")
            return [*prefix.split("."), tool]
    parts = key.split(".")
    model: type[BaseModel] = HostProfile
    path: list[str] = []
    while parts:
        part = parts.pop(0)
        field = model.model_fields.get(part)
        if field is None or part in NOT_FACTS:
            raise OverrideError(key, _unknown(path, part, model))
        path.append(part)
        annotation = field.annotation
        if _fact_type(annotation):
            if parts:
                raise OverrideError(key, f"{'.'.join(path)} is a fact; it has no {parts[0]!r}")
            return path
        if _fact_map(annotation):
            if not parts:
                raise OverrideError(key, f"name one entry: {'.'.join(path)}.NAME")
            return [*path, ".".join(parts)]
        inner = _model(annotation)
        if inner is None:
            raise OverrideError(key, f"{'.'.join(path)} cannot be overridden")
        model = inner
    raise OverrideError(key, f"{'.'.join(path) or 'the host'} is a group of facts; name one")


def _model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _unknown(path: list[str], part: str, model: type[BaseModel]) -> str:
    where = ".".join(path) or "a host"
    known = [n for n in model.model_fields if n not in NOT_FACTS]
    extra = f", or {' / '.join(t + '.NAME' for t in TOOL_LISTS)}" if not path else ""
    return f"{where} has no fact {part!r}; known: {', '.join(known)}{extra}"


def check_value(key: str, value: Any) -> None:
    """What can be checked without a host: the key, and names that must exist in knowledge/."""
    target(key)
    if key == SECCOMP_KEY and value not in (*seccomp.profiles(), UNCONFINED):
        raise OverrideError(
            key,
            f"unknown seccomp profile {value!r}; known: {UNCONFINED}, "
            + ", ".join(seccomp.profiles()),
        )
    if any(key.startswith(p + ".") for p in TOOL_LISTS) and not isinstance(value, str):
        raise OverrideError(key, "a tool's version is one value, e.g. 1.0.2")


def apply(host: HostProfile, overrides: Sequence[Override], name: str | None = None) -> HostProfile:
    """`host` with the overridden facts (and a new name); OverrideError names a bad key."""
    data = host.model_dump()
    keys = {o.key for o in overrides}
    for override in overrides:
        check_value(override.key, override.value)
        path = target(override.key)
        if path[:2] in (["engines", "runtimes"], ["engines", "engines"]):
            _set_tool(data["engines"], path[1], path[2], str(override.value), override.source)
            derived = seccomp.for_engine(path[2], str(override.value))
            if path[1] == "engines" and path[2] in PROFILED_ENGINES and SECCOMP_KEY not in keys:
                if derived is None:
                    raise OverrideError(
                        override.key, f"no known {path[2]} profile as old as {override.value}"
                    )
                data["engines"]["seccomp_profile"] = _fact(
                    derived,
                    f"{override.source}: the default profile {path[2]} {override.value} ships",
                )
            continue
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = _fact(override.value, override.source)
    if any(o.key.startswith("engines.") for o in overrides):
        data["engines"]["setups"] = []  # the overridden facts now describe the one engine judged
    data["name"] = name or host.name
    try:
        return HostProfile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(p) for p in error["loc"] if p != "value"]
        key = next(
            (o.key for o in overrides if o.key.split(".") == loc[: len(o.key.split("."))]),
            overrides[0].key if overrides else "(host)",
        )
        raise OverrideError(key, error["msg"]) from None


def _fact(value: Any, source: str) -> dict[str, Any]:
    return {"value": value, "source": source, "unknown": None}


def _set_tool(engines: dict[str, Any], group: str, name: str, version: str, source: str) -> None:
    tools: list[dict[str, Any]] = list(engines[group]["value"] or [])
    fact = _fact(version, source)
    for tool in tools:
        if tool["name"] == name:
            tool["version"] = fact
            break
    else:
        tools.append(
            Tool(name=name, path=f"/usr/bin/{name}", version=Fact.of(version, source)).model_dump()
        )
    before = engines[group]
    engines[group] = {"value": tools, "source": before["source"] or source, "unknown": None}
