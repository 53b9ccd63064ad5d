"""Each user's notes, kept in memory: a sample's storage, lost on restart.

A real server would use a database; what to copy is the key. Notes belong to the broker user
(`iss` + `sub`: a `sub` is only unique per issuer), never to the MCP client, so the same user
sees the same notes from every client they connect.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

MAX_NOTES_PER_USER = 100


class NoteLimitError(ValueError):
    """The user already has MAX_NOTES_PER_USER notes."""


@dataclass(frozen=True)
class Note:
    id: int
    text: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NoteStore:
    def __init__(self) -> None:
        self._notes: dict[tuple[str, str], list[Note]] = {}
        self._lock = threading.Lock()

    def add(self, owner: tuple[str, str], text: str) -> Note:
        with self._lock:
            notes = self._notes.setdefault(owner, [])
            if len(notes) >= MAX_NOTES_PER_USER:
                raise NoteLimitError(f"A user can keep at most {MAX_NOTES_PER_USER} notes.")
            note = Note(len(notes) + 1, text, datetime.now(UTC).isoformat(timespec="seconds"))
            notes.append(note)
            return note

    def list(self, owner: tuple[str, str]) -> list[Note]:
        with self._lock:
            return list(self._notes.get(owner, ()))
