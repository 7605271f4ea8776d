"""Read a suite file into the runs to make; every problem names the file and line.

Nothing runs and nothing is written until the whole file is valid: all problems are gathered
(YAML syntax, the schema, names that refer to nothing, overrides of facts that do not exist,
incidents that are not documented) and raised together as one SuiteError, exit code 2.

Image references and host files may use `${VAR}` (an environment variable; `${VAR:-default}`
when it is unset) and `${SUITE_DIR}` (the directory of the suite file); an unset variable with
no default is an error. A relative host file is read relative to the suite file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from portwise.check import LOCAL, load_host
from portwise.errors import InputError, PortwiseError
from portwise.host.catalog import catalog_names
from portwise.knowledge import incidents
from portwise.model.host import HostProfile
from portwise.runtime.probes import SMOKE as SMOKE_PROBES
from portwise.suite import schema
from portwise.suite.overrides import Override, OverrideError, apply, check_value
from portwise.suite.yamltree import Tree, YamlSyntaxError, dotted, parse

_URL = re.compile(r"https?://\S+\Z")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SMOKE_NAMES = (*(p.name for p in SMOKE_PROBES), "entrypoint")


class SuiteError(InputError):
    """A suite file that cannot be run; the message has one `FILE:LINE: field: problem` a line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid suite:\n" + "\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Run:
    """One real run: a case (one image on one host), or the rerun of a case mitigated."""

    name: str
    kind: str  # "case" | "mitigation"
    case: str
    image: str  # a name from the suite's images
    host: str  # a name from the suite's hosts (with "+ID" when a mitigation changed it)
    host_profile: HostProfile
    commands: tuple[str, ...]  # empty: smoke probes and the entrypoint
    probe_names: tuple[str, ...]
    entrypoint_args: tuple[str, ...] | None
    timeout: float
    expect: str | None  # "pass" | "fail" | None (not checked)
    expect_probes: Mapping[str, str]
    allow_disagreement: bool
    known_failures: tuple[str, ...] = ()
    exercises: tuple[tuple[str, ...], ...] = ()  # per command: the finding subjects it exercises
    mitigates: str | None = None  # the known failure id a mitigation run verifies
    mitigations: tuple[tuple[str, bool], ...] = ()  # (known failure id, verify) of a case


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    description: str | None
    images: dict[str, str]  # name -> reference, variables expanded
    runs: list[Run] = field(default_factory=list)


def load_suite(
    path: Path, catalogs: Sequence[Path] = (), env: Mapping[str, str] | None = None
) -> Suite:
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError([f"{label}: cannot be read: {exc}"]) from None
    try:
        tree = parse(text, raw_under=frozenset({"override"}))
    except YamlSyntaxError as exc:
        raise SuiteError([f"{label}:{exc.line}: yaml: {exc.message}"]) from None
    problems: list[tuple[int, str]] = list(tree.problems)
    if not isinstance(tree.value, dict):
        problems.append((1, "(top): a suite is a mapping with images, hosts and cases"))
        raise SuiteError(_lines(label, problems))
    try:
        model = schema.SuiteFile.model_validate(tree.value)
    except ValidationError as exc:
        problems.extend(_pydantic(exc, tree))
        raise SuiteError(_lines(label, problems)) from None
    builder = _Builder(path, tree, catalogs, dict(os.environ if env is None else env))
    suite = builder.build(model)
    problems.extend(builder.problems)
    if problems:
        raise SuiteError(_lines(label, problems))
    return suite


def _lines(label: str, problems: list[tuple[int, str]]) -> list[str]:
    return [f"{label}:{line}: {message}" for line, message in sorted(set(problems))]


def _pydantic(exc: ValidationError, tree: Tree) -> list[tuple[int, str]]:
    out: dict[tuple[int, str], str] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        known: tuple[str | int, ...] = ()
        for part in loc:
            if (*known, part) not in tree.lines:
                break
            known = (*known, part)
        where = dotted(known)
        if error["type"] == "missing":
            where = dotted((*known, loc[-1]))
            message = "required, missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown key"
        else:
            message = error["msg"].removeprefix("Value error, ")
        out.setdefault((tree.line(known), where or "(top)"), message)
    return [(line, f"{where}: {message}") for (line, where), message in out.items()]


class _Builder:
    def __init__(
        self, path: Path, tree: Tree, catalogs: Sequence[Path], env: dict[str, str]
    ) -> None:
        self.path = path
        self.tree = tree
        self.catalogs = list(catalogs)
        self.env = {**env, "SUITE_DIR": str(path.resolve().parent)}
        self.problems: list[tuple[int, str]] = []

    def problem(self, where: tuple[str | int, ...], message: str) -> None:
        self.problems.append((self.tree.line(where), f"{dotted(where)}: {message}"))

    def source(self, where: tuple[str | int, ...]) -> str:
        return f"suite {self.path.name}:{self.tree.line(where)}"

    def expand(self, where: tuple[str | int, ...], text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name not in self.env and default is not None:
                return default
            if name not in self.env:
                self.problem(where, f"${{{name}}} is not set in the environment")
                return match.group(0)
            return self.env[name]

        return _VAR.sub(one, text)

    def build(self, model: schema.SuiteFile) -> Suite:
        images = {}
        for name, reference in model.images.items():
            if not re.match(schema.NAME, name):
                self.problem(("images", name), "an image name is letters, digits, . _ -")
            images[name] = self.expand(("images", name), reference)
        hosts = {name: self.host(name, spec) for name, spec in model.hosts.items()}
        suite = Suite(self.path, model.suite or self.path.stem, model.description, images, runs=[])
        seen: dict[str, int] = {}
        for index, case in enumerate(model.cases):
            for run in self.case(index, case, images, hosts):
                if run.name in seen:
                    self.problem(
                        ("cases", index, "name"),
                        f"duplicate case name {run.name!r} (also at line {seen[run.name]})",
                    )
                    continue
                seen[run.name] = self.tree.line(("cases", index, "name"))
                suite.runs.append(run)
        return suite

    def host(self, name: str, spec: schema.HostSpec) -> HostProfile | None:
        where: tuple[str | int, ...] = ("hosts", name)
        if not re.match(schema.NAME, name):
            self.problem(where, "a host name is letters, digits, . _ -")
        at_base = (*where, "base") if (*where, "base") in self.tree.lines else where
        base = self.expand(at_base, spec.base)
        if base != LOCAL and (base.endswith(".json") or "/" in base):
            file = Path(base)
            base = str(file if file.is_absolute() else self.path.parent / file)
        elif base != LOCAL and base not in catalog_names(self.catalogs):
            self.problem(
                at_base,
                f"unknown host {base!r}: not 'local', not a .json file, not a catalog name "
                "(`portwise hosts` lists the catalog)",
            )
            return None
        try:
            profile = load_host(base, self.catalogs)
        except PortwiseError as exc:
            self.problem(at_base, exc.message)
            return None
        return self.override(profile, spec.override, (*where, "override"), name)

    def override(
        self,
        profile: HostProfile,
        values: Mapping[str, Any],
        where: tuple[str | int, ...],
        name: str,
    ) -> HostProfile | None:
        changes = [Override(k, v, self.source((*where, k))) for k, v in values.items()]
        bad = False
        for change in changes:
            try:
                check_value(change.key, change.value)
            except OverrideError as exc:
                self.problem((*where, change.key), exc.message)
                bad = True
        if bad:
            return None
        try:
            return apply(profile, changes, name)
        except OverrideError as exc:
            self.problem((*where, exc.key), exc.message)
            return None

    def case(
        self,
        index: int,
        case: schema.Case,
        images: Mapping[str, str],
        hosts: Mapping[str, HostProfile | None],
    ) -> list[Run]:
        at: tuple[str | int, ...] = ("cases", index)
        for field_name, names, known in (("image", case.image, images), ("host", case.host, hosts)):
            for i, name in enumerate(names):
                if name not in known:
                    self.problem(
                        (*at, field_name, i) if len(names) > 1 else (*at, field_name),
                        f"no {field_name} named {name!r} under {field_name}s: "
                        f"(known: {', '.join(known)})",
                    )
        commands, probe_names, exercises = self.probes(case)
        expect_probes = dict(case.expect_probes)
        for probe in expect_probes:
            if probe not in probe_names:
                self.problem(
                    (*at, "expect_probes", probe),
                    f"no probe named {probe!r} (probes: {', '.join(probe_names)})",
                )
        expect = case.expect or ("fail" if case.known_failures else "pass")
        if case.known_failures and case.expect == "pass":
            self.problem((*at, "expect"), "a case with known failures cannot expect pass")
        ids: set[str] = set()
        for k, known_failure in enumerate(case.known_failures):
            kf_at = (*at, "known_failures", k)
            if known_failure.id in ids:
                self.problem((*kf_at, "id"), f"duplicate known failure {known_failure.id!r}")
            ids.add(known_failure.id)
            for r, reference in enumerate(known_failure.references):
                if not _URL.match(reference) and reference not in incidents.load():
                    self.problem(
                        (*kf_at, "references", r),
                        f"{reference!r} is neither a URL nor a documented incident "
                        "(knowledge/incidents/data; `portwise explain ID` shows one)",
                    )
            shown = known_failure.probe
            if shown is None:
                continue
            if shown not in probe_names:
                self.problem(
                    (*kf_at, "probe"),
                    f"no probe named {shown!r} (probes: {', '.join(probe_names)})",
                )
            elif expect_probes.get(shown, "fail") != "fail":
                self.problem(
                    (*at, "expect_probes", shown),
                    f"expects {expect_probes[shown]}, but known failure {known_failure.id} says "
                    "this probe fails",
                )
            expect_probes.setdefault(shown, "fail")
        for k, known_failure in enumerate(case.known_failures):
            self.check_mitigation((*at, "known_failures", k, "mitigation"), known_failure)
        runs: list[Run] = []
        pairs = [(i, h) for i in case.image for h in case.host]
        for image, host in pairs:
            name = case.name if len(pairs) == 1 else f"{case.name}[{image}@{host}]"
            profile = hosts.get(host)
            if profile is None or image not in images:
                continue
            base = Run(
                name=name,
                kind="case",
                case=name,
                image=image,
                host=host,
                host_profile=profile,
                commands=commands,
                probe_names=probe_names,
                exercises=exercises,
                entrypoint_args=tuple(case.entrypoint_args)
                if case.entrypoint_args is not None
                else None,
                timeout=case.timeout,
                expect=expect,
                expect_probes=expect_probes,
                allow_disagreement=case.allow_disagreement,
                known_failures=tuple(kf.id for kf in case.known_failures),
                mitigations=tuple(
                    (kf.id, kf.mitigation.verify)
                    for kf in case.known_failures
                    if kf.mitigation is not None
                ),
            )
            runs.append(base)
            for k, known_failure in enumerate(case.known_failures):
                mitigated = self.mitigation(
                    (*at, "known_failures", k), known_failure, base, images, hosts
                )
                if mitigated is not None:
                    runs.append(mitigated)
        return runs

    def check_mitigation(
        self, at: tuple[str | int, ...], known_failure: schema.KnownFailure
    ) -> None:
        """What can be checked once, before any host is built: the override's keys and names."""
        if known_failure.mitigation is None:
            return
        for key, value in known_failure.mitigation.override.items():
            try:
                check_value(key, value)
            except OverrideError as exc:
                self.problem((*at, "override", key), exc.message)

    def probes(
        self, case: schema.Case
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]:
        if isinstance(case.probes, dict):
            defs = [
                p if isinstance(p, schema.ProbeDef) else schema.ProbeDef(command=p)
                for p in case.probes.values()
            ]
            return (
                tuple(d.command for d in defs),
                tuple(case.probes),
                tuple(tuple(d.exercises) for d in defs),
            )
        if isinstance(case.probes, list):
            names = tuple(f"probe-{i + 1}" for i in range(len(case.probes)))
            return tuple(case.probes), names, ()
        return (), SMOKE_NAMES, ()  # smoke; another string is refused by the schema

    def mitigation(
        self,
        at: tuple[str | int, ...],
        known_failure: schema.KnownFailure,
        case: Run,
        images: Mapping[str, str],
        hosts: Mapping[str, HostProfile | None],
    ) -> Run | None:
        mitigation = known_failure.mitigation
        if mitigation is None:
            return None
        m_at = (*at, "mitigation")
        image, host, profile = case.image, case.host, case.host_profile
        if mitigation.image is not None:
            if mitigation.image not in images:
                self.problem(
                    (*m_at, "image"),
                    f"no image named {mitigation.image!r} under images: "
                    f"(known: {', '.join(images)})",
                )
                return None
            image = mitigation.image
        if mitigation.host is not None:
            if mitigation.host not in hosts:
                self.problem(
                    (*m_at, "host"),
                    f"no host named {mitigation.host!r} under hosts: (known: {', '.join(hosts)})",
                )
                return None
            host, found = mitigation.host, hosts[mitigation.host]
            if found is None:
                return None
            profile = found
        if mitigation.override:
            host = f"{case.host}+{known_failure.id}"
            changed = self.override(profile, mitigation.override, (*m_at, "override"), host)
            if changed is None:
                return None
            profile = changed
        if not mitigation.verify:
            return None
        probe = known_failure.probe
        return Run(
            name=f"{case.name} mitigated: {known_failure.id}",
            kind="mitigation",
            case=case.name,
            image=image,
            host=host,
            host_profile=profile,
            commands=case.commands,
            probe_names=case.probe_names,
            exercises=case.exercises,
            entrypoint_args=case.entrypoint_args,
            timeout=case.timeout,
            expect=None if probe else "pass",
            expect_probes={probe: "pass"} if probe else {},
            allow_disagreement=case.allow_disagreement,
            mitigates=known_failure.id,
        )
