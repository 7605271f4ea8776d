"""Assemble an ImageProfile from the merged view and each layer's analyzer results.

Every value is taken from the layer that owns the surviving path, so a file or database that a
later layer replaced or deleted never leaks into the profile.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from portwise import __version__
from portwise.image.analyzer import Analyzer
from portwise.image.analyzers.osrelease import PATHS as OS_RELEASE_PATHS
from portwise.image.binaries import summarize
from portwise.image.factfiles import REGULAR, status_d_paths
from portwise.image.langruntimes import detect as detect_runtimes
from portwise.image.langruntimes import from_analyzer, reactions_for
from portwise.image.layers import LayerFacts
from portwise.image.merged import MergedView, SymlinkLoop
from portwise.image.packages import dpkg, rpm
from portwise.image.packages.apk import INSTALLED_PATH as APK_DB
from portwise.image.sources.base import ImageHandle
from portwise.knowledge.architectures import oci_of
from portwise.model import image as m

RPM_PREFERENCE = {"sqlite": 0, "ndb": 1, "bdb": 2}
PackageKey = tuple[str, str, str | None]


def _iso(seconds: int | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


class ProfileBuilder:
    def __init__(
        self,
        handle: ImageHandle,
        layers: Sequence[LayerFacts],
        view: MergedView,
        from_cache: Sequence[bool],
        analyzers: Sequence[Analyzer],
        notes: Sequence[m.Unknown] = (),
    ) -> None:
        self.handle = handle
        self.layers = layers
        self.view = view
        self.from_cache = from_cache
        self.analyzers = analyzers
        self.unknowns: list[m.Unknown] = [*notes] + [
            m.Unknown(location=path, layer=index, message=message)
            for index, facts in enumerate(layers)
            for path, message in facts.problems
        ]
        self.unknowns += [
            m.Unknown(location="/" + path, layer=index, message=message)
            for index, path, message in view.notes
        ]

    def result(self, analyzer: str, path: str) -> tuple[int, str, Any] | None:
        """(layer, real path, result) of `analyzer` for the file `path` names in the merged view,
        symlinks followed inside the image. A loop, or something other than a regular file
        where the file should be (a FIFO, a device, a directory), is absent, with a note."""
        try:
            real = self.view.resolve(path)
        except SymlinkLoop as exc:
            self._note(path, None, f"{exc}: read as absent")
            return None
        node = self.view.get(real)
        if node is None:
            return None
        if node.kind not in REGULAR:
            where = f"/{real}" if real != path else "there"
            self._note(
                path, node.layer, f"a {node.kind}, not a regular file, is {where}: read as absent"
            )
            return None
        value = self.layers[node.layer].analyses.get(analyzer, {}).get(real)
        return None if value is None else (node.layer, real, value)

    def _note(self, path: str, layer: int | None, message: str) -> None:
        note = m.Unknown(location="/" + path, layer=layer, message=message)
        if note not in self.unknowns:
            self.unknowns.append(note)

    def build(self) -> m.ImageProfile:
        libc = self._libc()
        binaries = self._binaries()
        config = self._config()
        platform = self.handle.platform
        if platform.architecture == "unknown":
            arches = {lib.architecture for lib in libc if lib.architecture}
            if not arches:  # no libc (a Go or static program): what its programs are built for
                machines = {b.machine for b in binaries if b.type in ("EXEC", "DYN")}
                arches = {oci_of(m) or "unknown" for m in machines}
            if len(arches) == 1:
                platform = m.Platform(os=platform.os, architecture=arches.pop())
            elif len(arches) > 1:  # say why the platform stays unknown
                self.unknowns.append(
                    m.Unknown(
                        location="/",
                        message="no image config, and programs built for several architectures"
                        f" ({', '.join(sorted(arches))}): the platform is unknown",
                    )
                )
        profile = m.ImageProfile(
            reference=self.handle.reference,
            source=self.handle.source,
            manifest_digest=self.handle.manifest_digest,
            config_digest=self.handle.config_digest,
            platform=platform,
            config=config,
            os_release=self._os_release(),
            libc=[lib.model for lib in libc],
            packages=self._packages(),
            runtimes=[
                runtime
                for _, path, value in self.surviving("runtime-versions")
                for runtime in from_analyzer(path, value)
            ],
            layers=self._layers(config),
            files=[node for _, node in self.view],
            binaries=binaries,
            binary_summary=m.BinarySummary(),  # below, once the runtimes are known
            unknowns=self.unknowns,
            analyzers=[m.Analyzer(name=a.name, version=a.version) for a in self.analyzers],
            portwise_version=__version__,
        )
        # the analyzer's version strings, completed from binaries, file names and packages
        profile = profile.model_copy(update={"runtimes": list(detect_runtimes(profile))})
        callers = partial(reactions_for, profile)
        summary = summarize(binaries, [lib.model for lib in libc], callers)
        return profile.model_copy(update={"binary_summary": summary})

    def _config(self) -> m.ImageConfig:
        raw = self.handle.config
        inner = raw.get("config") if isinstance(raw.get("config"), dict) else {}
        assert isinstance(inner, dict)
        history = [
            m.HistoryEntry(
                created=h.get("created"),
                created_by=h.get("created_by"),
                comment=h.get("comment"),
                empty_layer=bool(h.get("empty_layer", False)),
            )
            for h in raw.get("history") or []
            if isinstance(h, dict)
        ]
        labels = inner.get("Labels") or {}
        return m.ImageConfig(
            entrypoint=inner.get("Entrypoint"),
            cmd=inner.get("Cmd"),
            env=list(inner.get("Env") or []),
            user=inner.get("User") or None,
            working_dir=inner.get("WorkingDir") or None,
            labels={str(k): str(v) for k, v in labels.items()},
            created=raw.get("created"),
            history=history,
        )

    def _layers(self, config: m.ImageConfig) -> list[m.Layer]:
        steps = [h for h in config.history if not h.empty_layer]
        layers = []
        for ref, facts, cached in zip(
            self.handle.layers, self.layers, self.from_cache, strict=True
        ):
            step = steps[ref.index] if len(steps) == len(self.layers) else None
            layers.append(
                m.Layer(
                    index=ref.index,
                    digest=ref.digest,
                    diff_id=facts.diff_id or ref.diff_id,
                    media_type=ref.media_type,
                    size=ref.size,
                    unpacked_size=facts.unpacked_size,
                    file_count=len(facts.entries),
                    created_by=step.created_by if step else None,
                    from_cache=cached,
                )
            )
        return layers

    def _os_release(self) -> m.OsRelease | None:
        for path in OS_RELEASE_PATHS:
            found = self.result("os-release", path)
            if found is None:
                continue
            layer, real, values = found
            return m.OsRelease(
                id=values.get("ID"),
                version_id=values.get("VERSION_ID"),
                id_like=(values.get("ID_LIKE") or "").split(),
                pretty_name=values.get("PRETTY_NAME"),
                version_codename=values.get("VERSION_CODENAME"),
                path="/" + real,
                layer=layer,
            )
        return None

    def surviving(self, analyzer: str) -> Iterator[tuple[int, str, Any]]:
        """(layer, path, result) of `analyzer` for files no later layer replaced or deleted."""
        for index, facts in enumerate(self.layers):
            for path, value in facts.analyses.get(analyzer, {}).items():
                node = self.view.get(path)
                if node is not None and node.layer == index:
                    yield index, path, value

    def _binaries(self) -> list[m.ElfBinary]:
        binaries = []
        for index, path, value in self.surviving("elf"):
            fields = dict(value)
            for problem in fields.pop("problems", []):
                self.unknowns.append(m.Unknown(location="/" + path, layer=index, message=problem))
            direct = fields.pop("direct_syscalls", None)
            cpu = fields.pop("cpu", None)
            binaries.append(
                m.ElfBinary(
                    path="/" + path,
                    layer=index,
                    **fields,
                    direct_syscalls=m.DirectSyscalls(**direct) if direct else None,
                    cpu=m.CpuNeeds(**cpu) if cpu else None,
                )
            )
        binaries.sort(key=lambda b: b.path)
        return binaries

    def _libc(self) -> list[_Libc]:
        found: dict[str, _Libc] = {}
        for index, path, value in self.surviving("libc"):
            lib = _Libc(value, path, index)
            previous = found.get(lib.family)
            if previous is None or (previous.version is None and lib.version is not None):
                found[lib.family] = lib
        return [found[family] for family in sorted(found)]

    def _packages(self) -> list[m.Package]:
        packages: list[m.Package] = []
        packages += self._database("dpkg", "dpkg", dpkg.STATUS_PATH)
        for path in status_d_paths(self.view):
            packages += self._database("dpkg", "dpkg", path)
        # an image carries one rpm database; when several paths resolve (a symlinked dbpath,
        # a leftover old-format file), the current format wins
        for path in sorted(rpm.DATABASE_PATHS, key=lambda p: RPM_PREFERENCE[rpm.DATABASE_PATHS[p]]):
            rpm_packages = self._database("rpm", "rpm", path)
            if rpm_packages:
                packages += rpm_packages
                break
        packages += self._database("apk", "apk", APK_DB)
        return packages

    def _database(self, analyzer: str, manager: m.PackageManager, path: str) -> list[m.Package]:
        found = self.result(analyzer, path)
        if found is None:
            return []
        final_layer, real, value = found
        for problem in value["problems"]:
            self.unknowns.append(m.Unknown(location="/" + real, layer=final_layer, message=problem))
        origins = self._origins(analyzer, real, final_layer)
        packages = []
        for name, version, arch, src_name, src_version, installed, built in value["packages"]:
            if manager == "dpkg" and installed is None:
                installed = self._dpkg_install_time(name, arch)
            packages.append(
                m.Package(
                    manager=manager,
                    name=name,
                    version=version,
                    architecture=arch,
                    source_name=src_name,
                    source_version=src_version,
                    installed_at=_iso(installed),
                    built_at=_iso(built),
                    layer=origins.get((name, version, arch), final_layer),
                    database="/" + real,
                )
            )
        return packages

    def _origins(self, analyzer: str, path: str, final_layer: int) -> dict[PackageKey, int]:
        """For each package, the earliest layer since which every rewrite of the database
        still lists that exact version: the layer that brought it."""
        versions: list[tuple[int, set[PackageKey]]] = []
        for index in range(final_layer, -1, -1):
            value = self.layers[index].analyses.get(analyzer, {}).get(path)
            if value is None:
                if path in self.layers[index].whiteouts:
                    break
                continue
            versions.append((index, {(p[0], p[1], p[2]) for p in value["packages"]}))
        origins: dict[PackageKey, int] = {}
        alive = versions[0][1] if versions else set()
        for index, keys in versions:
            alive = alive & keys
            for key in alive:
                origins[key] = index
        return origins

    def _dpkg_install_time(self, name: str, arch: str | None) -> int | None:
        for candidate in dpkg.info_list_names(name, arch):
            node = self.view.get(candidate)
            if node is not None:
                return node.mtime
        return None


class _Libc:
    def __init__(self, value: dict[str, Any], path: str, layer: int) -> None:
        self.family: str = value["family"]
        self.version: str | None = value.get("version")
        self.architecture: str | None = value.get("architecture")
        self.model = m.Libc(
            family=value["family"],
            version=self.version,
            path="/" + path,
            layer=layer,
            evidence=value["evidence"],
        )
