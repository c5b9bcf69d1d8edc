"""Append-only SQLite journal of an ASHA search (stdlib ``sqlite3``, WAL mode, one commit per event).

Every event is a row ``(seq, time, kind, trial_id, rung, payload)`` where ``payload`` is JSON (data
only, never pickle). Kinds:

* ``search``     – first row: the scheduler's parameters and search space (``ASHA.params()``)
* ``suggest``    – a new trial: ``{"config": {...}}``
* ``promote``    – trial promoted into ``rung``: ``{"from_rung": k}``
* ``start``      – job handed out: ``{"resource_from", "resource_to"[, "reissue"]}``
* ``result``     – rung result: ``{"score": x}``
* ``fail``       – trial failed: ``{"error": "..."}``
* ``checkpoint`` – checkpoint saved: ``{"path": "..."}``

Because each event is committed before the call that produced it returns, a search killed at any
point can be rebuilt with :meth:`autofast.asha.ASHA.resume` with nothing finished lost.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Optional

__all__ = ["Journal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    time     REAL NOT NULL,
    kind     TEXT NOT NULL,
    trial_id INTEGER,
    rung     INTEGER,
    payload  TEXT NOT NULL
)
"""


class Journal:
    """An event log in the SQLite file at ``path`` (created if missing)."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(str(self.path))
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    def record(self, kind: str, trial_id: Optional[int] = None, rung: Optional[int] = None, payload: Any = None) -> None:
        """Append one event and commit it."""
        self._conn.execute(
            "INSERT INTO events (time, kind, trial_id, rung, payload) VALUES (?, ?, ?, ?, ?)",
            (time.time(), kind, trial_id, rung, json.dumps(payload if payload is not None else {})),
        )
        self._conn.commit()

    def has_events(self) -> bool:
        return self._conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None

    def events(self) -> list:
        """All events in order, as dicts with ``seq, time, kind, trial_id, rung, payload`` (payload decoded)."""
        rows = self._conn.execute("SELECT seq, time, kind, trial_id, rung, payload FROM events ORDER BY seq").fetchall()
        return [
            {"seq": s, "time": t, "kind": k, "trial_id": tid, "rung": r, "payload": json.loads(p)}
            for s, t, k, tid, r, p in rows
        ]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
