"""Per-layer facts and per-image profiles cached in SQLite, shared safely by many processes.

Why not a lock file (Trivy's BoltDB holds one for the whole run, aquasecurity/trivy#650):
SQLite in WAL mode lets readers run beside one writer, each write is a single short
transaction, and a busy timeout turns contention into a wait instead of an error. A process
killed mid-write leaves the previous committed state, which SQLite's journal guarantees.

The cache heals itself; it never stops a scan:
- a damaged database (not SQLite, truncated, malformed pages, a schema portwise did not write,
  a lock held past the busy timeout, a file this process may not write) is moved aside to
  `layers.sqlite.damaged-<UTC time>`, a warning names both files, and a fresh one is started;
  when it cannot be moved aside, the run goes on uncached;
- a full disk stops the writes (with one warning) and the scan goes on; reads still answer;
- every entry carries a SHA-256 of its key and stored bytes: an entry edited in place fails it
  and is a miss (recomputed and replaced), never served.
Warnings go to the `portwise.image.cache` logger; the command line prints them on stderr.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from platformdirs import user_cache_dir

import portwise
from portwise.image.layers import LayerFacts
from portwise.model.image import ImageProfile

log = logging.getLogger(__name__)

CACHE_SCHEMA = 2
BUSY_TIMEOUT_S = 120.0
DB_NAME = "layers.sqlite"
SET_ASIDE_MARK = ".damaged-"
TABLES = {
    "layer_facts": ("key", "value", "checksum", "created", "last_used"),
    "image_profiles": ("key", "value", "checksum", "created", "last_used"),
}
SCHEMA_1_TABLES = {"layer_facts": ("key", "facts", "created", "last_used")}

# SQLite's primary result codes (https://www.sqlite.org/rescode.html)
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26

T = TypeVar("T")


def default_cache_dir() -> Path:
    return Path(user_cache_dir("portwise"))


class WrongSchema(sqlite3.DatabaseError):
    """A valid SQLite file whose tables are not the ones this portwise writes."""


class NewerSchema(sqlite3.DatabaseError):
    """Written by a newer portwise: left alone, and this run goes uncached."""


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    usable: bool
    layers: int
    profiles: int
    size: int  # bytes of the database and its WAL
    set_aside: list[Path]


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _disk_full(directory: Path) -> bool:
    try:
        fs = os.statvfs(directory)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize < (1 << 20)


def _problem(exc: sqlite3.Error, directory: Path) -> str:
    """'full' (stop writing), 'newer' (leave alone) or a reason to set the database aside."""
    if isinstance(exc, NewerSchema | WrongSchema):
        return "newer" if isinstance(exc, NewerSchema) else str(exc)
    code = _code(exc)
    if code == SQLITE_FULL or (code == SQLITE_IOERR and _disk_full(directory)):
        return "full"
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return f"locked for over {BUSY_TIMEOUT_S:.0f} s ({exc})"
    if code in (SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN):
        return f"not writable ({exc})"
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return f"damaged ({exc})"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"unusable ({exc})"
    raise exc  # InterfaceError, ProgrammingError: a bug in portwise, not in the file


def _why(problem: str) -> str:
    if problem == "full":
        return "the disk holding it is full"
    if problem == "newer":
        return "it was written by a newer portwise, and is left as it is"
    return f"it is {problem}"


def checksum(key: str, blob: bytes) -> bytes:
    return hashlib.sha256(key.encode() + b"\0" + blob).digest()


@functools.cache
def code_fingerprint() -> str:
    """Identity of the portwise code and knowledge data that turn layer facts into a profile.

    A whole profile is cached only under this: any installed or edited file changes it (stat
    only, ~2 ms for the package's ~200 files, once per process)."""
    root = Path(portwise.__file__).parent
    digest = hashlib.sha256(portwise.__version__.encode())
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            path = Path(directory, name)
            info = path.stat()
            line = f"{path.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}"
            digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:32]


class LayerCache:
    """Never raises for the state of its file: every failure heals, or degrades to a miss."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        self._db: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._writable = True
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning(
                "cannot create the cache directory %s (%s); scanning uncached",
                directory,
                exc.strerror,
            )
            return
        self._open()

    # ---- opening and healing -------------------------------------------------------------

    def _open(self) -> None:
        """Connect; a damaged file is set aside once and a fresh one tried."""
        try:
            self._db = self._connect()
            return
        except sqlite3.Error as exc:
            problem = _problem(exc, self.directory)
        if problem in ("full", "newer"):
            self._disable(_why(problem))
        else:
            self._heal(problem)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            self._identity = _identity(self.path)
            # the schema first: a file that is not ours is set aside exactly as it was found
            if db.execute("PRAGMA user_version").fetchone()[0] != CACHE_SCHEMA:
                _retry_locked(lambda: _create_schema(db))
            _check_schema(db)
            _retry_locked(lambda: db.execute("PRAGMA journal_mode=WAL").fetchone())
            db.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            db.close()
            raise
        return db

    def _heal(self, problem: str) -> None:
        """Set the file aside (unless another process already did) and start a fresh one."""
        self._close_quietly()
        with _heal_lock(self.directory):
            current = _identity(self.path)
            if current is not None and current == self._identity:
                try:
                    moved = _set_aside(self.path)
                except OSError as exc:
                    self._disable(f"it is {problem} and cannot be moved aside ({exc.strerror})")
                    return
                log.warning(
                    "the layer cache %s is %s; moved it to %s and started a fresh one",
                    self.path,
                    problem,
                    moved,
                )
            try:
                self._db = self._connect()
            except sqlite3.Error as exc:
                self._disable(_why(_problem(exc, self.directory)))

    def _disable(self, why: str) -> None:
        self._close_quietly()
        log.warning("the layer cache %s is not used for this run: %s", self.path, why)

    def _close_quietly(self) -> None:
        if self._db is not None:
            with suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def _run(self, operation: Callable[[sqlite3.Connection], T], default: T, write: bool) -> T:
        """`operation` on the database; a failure heals (once) or degrades to `default`."""
        for attempt in (1, 2):
            if self._db is None or (write and not self._writable):
                return default
            try:
                return operation(self._db)
            except sqlite3.Error as exc:
                problem = _problem(exc, self.directory)
            if problem == "full":
                if write:
                    self._writable = False
                    log.warning(
                        "the disk holding the layer cache %s is full; this scan goes on "
                        "without writing to the cache",
                        self.path,
                    )
                return default
            if problem == "newer" or attempt == 2:
                self._disable(_why(problem))
                return default
            self._heal(problem)
        return default

    # ---- entries -------------------------------------------------------------------------

    @staticmethod
    def key(layer_digest: str, analyzers_key: str, limits_key: str = "") -> str:
        return f"v{CACHE_SCHEMA}|{layer_digest}|{analyzers_key}|{limits_key}"

    def _get(self, table: str, key: str) -> bytes | None:
        row = self._run(
            lambda db: db.execute(
                f"SELECT value, checksum FROM {table} WHERE key = ?",  # noqa: S608 (a constant)
                (key,),
            ).fetchone(),
            None,
            write=False,
        )
        if row is None:
            return None
        blob, stored = row
        if not isinstance(blob, bytes) or stored != checksum(key, blob):
            log.warning(
                "a cache entry in %s failed its checksum (edited or damaged); computed afresh: %s",
                self.path,
                key,
            )
            return None
        try:
            return zlib.decompress(blob)
        except zlib.error:
            return None

    def _put(self, table: str, key: str, data: bytes) -> None:
        blob = zlib.compress(data, 1)
        now = time.time()
        self._run(
            lambda db: db.execute(
                f"INSERT OR REPLACE INTO {table} (key, value, checksum, created, last_used)"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?)",
                (key, blob, checksum(key, blob), now, now),
            ),
            None,
            write=True,
        )

    def get(self, key: str) -> LayerFacts | None:
        data = self._get("layer_facts", key)
        if data is None:
            return None
        try:
            return LayerFacts.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError):
            return None  # an entry from a broken writer is a miss; the next put replaces it

    def put(self, key: str, facts: LayerFacts) -> None:
        self._put("layer_facts", key, json.dumps(facts.to_json(), separators=(",", ":")).encode())

    def get_profile(self, key: str) -> ImageProfile | None:
        data = self._get("image_profiles", key)
        if data is None:
            return None
        try:
            return ImageProfile.model_validate_json(data)
        except ValueError:
            return None

    def put_profile(self, key: str, profile: ImageProfile) -> None:
        self._put("image_profiles", key, profile.model_dump_json().encode())

    # ---- the cache commands --------------------------------------------------------------

    def count(self) -> int:
        return self._run(
            lambda db: int(db.execute("SELECT count(*) FROM layer_facts").fetchone()[0]),
            0,
            write=False,
        )

    def check(self) -> bool:
        """Read every page (PRAGMA quick_check); damage found is healed. True if usable."""

        def quick_check(db: sqlite3.Connection) -> bool:
            rows = db.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                found = "; ".join(str(row[0]) for row in rows[:3])
                raise sqlite3.DatabaseError(f"quick_check: {found}")
            return True

        return self._run(quick_check, False, write=False) or self._db is not None

    def info(self) -> CacheInfo:
        usable = self.check()
        profiles = self._run(
            lambda db: int(db.execute("SELECT count(*) FROM image_profiles").fetchone()[0]),
            0,
            write=False,
        )
        size = sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(DB_NAME + "-wal"))
            if p.exists()
        )
        return CacheInfo(self.path, usable, self.count(), profiles, size, self.set_aside())

    def set_aside(self) -> list[Path]:
        """Damaged databases moved aside by earlier runs, kept for inspection."""
        try:
            found = self.directory.glob(DB_NAME + SET_ASIDE_MARK + "*")
            return sorted(p for p in found if not p.name.endswith(("-wal", "-shm")))
        except OSError:
            return []

    def remove_set_aside(self) -> int:
        """Delete the damaged databases set aside (and their WAL files); how many."""
        removed = self.set_aside()
        for path in removed:
            for suffix in ("", "-wal", "-shm"):
                with suppress(OSError):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
        return len(removed)

    def clear(self) -> int:
        """Forget every entry; how many layers were cached."""

        def delete(db: sqlite3.Connection) -> int:
            removed = int(db.execute("SELECT count(*) FROM layer_facts").fetchone()[0])
            db.execute("DELETE FROM layer_facts")
            db.execute("DELETE FROM image_profiles")
            return removed

        return self._run(delete, 0, write=True)

    def close(self) -> None:
        self._close_quietly()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _retry_locked(step: Callable[[], object]) -> None:
    """Switching to WAL or creating the tables needs a moment of exclusive access; SQLite
    may answer SQLITE_BUSY without waiting, so another process doing it is a wait."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if _code(exc) not in (SQLITE_BUSY, SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _tables(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        name: tuple(row[1] for row in db.execute(f"PRAGMA table_info('{name}')")) for name in names
    }


def _create_schema(db: sqlite3.Connection) -> None:
    """One transaction, so concurrent processes create (or upgrade) the schema exactly once."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = _tables(db)
        if version > CACHE_SCHEMA:
            raise NewerSchema(f"schema {version}, newer than {CACHE_SCHEMA}")
        if version != CACHE_SCHEMA:
            if tables not in ({}, SCHEMA_1_TABLES):
                raise WrongSchema(
                    f"not a portwise cache: schema {version} with tables {', '.join(tables)}"
                )
            for name in tables:  # schema 1 held unchecksummed entries: start afresh
                db.execute(f"DROP TABLE {name}")
            for name in TABLES:
                db.execute(
                    f"CREATE TABLE {name} (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
                    " checksum BLOB NOT NULL, created REAL NOT NULL, last_used REAL NOT NULL)"
                )
            db.execute(f"PRAGMA user_version = {CACHE_SCHEMA}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _check_schema(db: sqlite3.Connection) -> None:
    tables = _tables(db)
    if tables != TABLES:
        listed = ", ".join(f"{n}({', '.join(c)})" for n, c in tables.items()) or "none"
        raise WrongSchema(f"not a portwise cache: schema {CACHE_SCHEMA} with tables {listed}")


def _set_aside(path: Path) -> Path:
    """Rename the database and its WAL files to `<name>.damaged-<UTC time>`; never overwrite."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}{SET_ASIDE_MARK}{stamp}")
    serial = 1
    while target.exists():
        serial += 1
        target = path.with_name(f"{path.name}{SET_ASIDE_MARK}{stamp}.{serial}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        try:
            companion.rename(target.with_name(target.name + suffix))
        except FileNotFoundError:
            pass
        except OSError:
            companion.unlink(missing_ok=True)  # a stale WAL must not meet the fresh database
    return target


@contextmanager
def _heal_lock(directory: Path) -> Iterator[None]:
    """Processes that find the same damage heal it once: the rest see a new file and reuse it.
    Best effort: where no lock file can be created (read-only, full), heal without it."""
    try:
        fd = os.open(directory / (DB_NAME + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
