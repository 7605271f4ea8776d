"""YAML to plain Python values, keeping the line of every key and item for error messages.

PyYAML's compose() gives a node tree whose nodes carry their start marks; this walks it once,
builds dicts, lists and scalars (as the safe loader would), and records the line of each value
by its path, e.g. ("cases", 0, "expect") -> 14. A mapping entry is recorded at its key's line,
so an unknown key and a wrong value both point at the line a reader looks for. Duplicate keys,
which PyYAML would silently collapse, are errors here.

Scalars under a key named in `raw_under` (host fact overrides) are kept as the text written, so
`runc: 1.10` stays "1.10" instead of becoming the float 1.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class Tree:
    value: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest recorded parent; 1 when nothing matches."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse(text: str, raw_under: frozenset[str] = frozenset()) -> Tree:
    """Compose one YAML document; raise YamlSyntaxError with its line on a syntax error."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        tree = Tree(None)
        if node is not None:
            tree.value = _convert(node, (), tree, loader, raw=False, raw_under=raw_under)
        return tree
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlSyntaxError(line, message or "not valid YAML") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from None
    finally:
        loader.dispose()


def _convert(
    node: yaml.Node,
    path: Path,
    tree: Tree,
    loader: yaml.SafeLoader,
    *,
    raw: bool,
    raw_under: frozenset[str],
) -> Any:
    tree.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) or key is None:
                tree.problems.append((line, f"{_where(path)}: a key must be a plain value"))
                continue
            if key in out:
                tree.problems.append((line, f"{_where((*path, str(key)))}: duplicate key"))
                continue
            child: Path = (*path, str(key))
            tree.lines[child] = line
            out[key] = _convert(
                value_node,
                child,
                tree,
                loader,
                raw=raw or str(key) in raw_under,
                raw_under=raw_under,
            )
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, i), tree, loader, raw=raw, raw_under=raw_under)
            for i, item in enumerate(node.value)
        ]
    if raw and isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return str(node.value)
    return loader.construct_object(node, deep=True)


def _where(path: Path) -> str:
    return dotted(path) or "(top)"


def dotted(path: Path) -> str:
    """("cases", 0, "expect") -> "cases[0].expect"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
