"""Per-layer facts cached in SQLite, shared safely by many portwise processes.

Why not a lock file (Trivy's BoltDB holds one for the whole run, aquasecurity/trivy#650):
SQLite in WAL mode lets readers run beside one writer, each write is a single short
transaction, and a busy timeout turns contention into a wait instead of an error. A process
killed mid-write leaves the previous committed state, which SQLite's journal guarantees.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from pathlib import Path

from platformdirs import user_cache_dir

from portwise.image.layers import LayerFacts

CACHE_SCHEMA = 1
BUSY_TIMEOUT_S = 120.0


def default_cache_dir() -> Path:
    return Path(user_cache_dir("portwise"))


class LayerCache:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / "layers.sqlite"
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS layer_facts ("
                    " key TEXT PRIMARY KEY, facts BLOB NOT NULL, created REAL NOT NULL,"
                    " last_used REAL NOT NULL)"
                )
                return db
            except sqlite3.OperationalError as exc:
                # switching to WAL needs a moment of exclusive access; another process
                # creating the cache at the same instant is a wait, not a failure
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @staticmethod
    def key(layer_digest: str, analyzers_key: str) -> str:
        return f"v{CACHE_SCHEMA}|{layer_digest}|{analyzers_key}"

    def get(self, key: str) -> LayerFacts | None:
        row = self._db.execute("SELECT facts FROM layer_facts WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return LayerFacts.from_json(json.loads(zlib.decompress(row[0])))
        except (zlib.error, ValueError, KeyError, TypeError):
            return None  # an entry from a broken writer is a miss; the next put replaces it

    def put(self, key: str, facts: LayerFacts) -> None:
        blob = zlib.compress(json.dumps(facts.to_json(), separators=(",", ":")).encode(), 1)
        now = time.time()
        self._db.execute(
            "INSERT OR REPLACE INTO layer_facts (key, facts, created, last_used)"
            " VALUES (?, ?, ?, ?)",
            (key, blob, now, now),
        )

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM layer_facts").fetchone()[0])

    def clear(self) -> int:
        removed = self.count()
        self._db.execute("DELETE FROM layer_facts")
        return removed

    def close(self) -> None:
        self._db.close()
