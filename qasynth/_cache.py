"""A SQLite-backed LangChain response cache.

The same prompt sent to the same model with the same parameters is answered
from the cache instead of a second paid call. Keys are SHA-256 hashes of the
model description and the prompt, so neither the documents nor anything from
the model's configuration is stored in clear; API keys are never part of it, and
``secrets`` quoted in a reply are removed before it is stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from ._secrets import remove_secrets

__all__ = ["SQLiteResponseCache"]


class SQLiteResponseCache(BaseCache):
    """``BaseCache`` storing generations in a SQLite file (safe across threads)."""

    def __init__(self, path: str | Path, *, secrets: Iterable[str | None] = ()) -> None:
        self.path = Path(path)
        self.secrets = tuple(s for s in secrets if s)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(prompt: str, llm_string: str) -> str:
        digest = hashlib.sha256(llm_string.encode("utf-8"))
        digest.update(b"\x00")
        digest.update(prompt.encode("utf-8"))
        return digest.hexdigest()

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        key = self._key(prompt, llm_string)
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return [_load_generation(item) for item in json.loads(row[0])]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        # ASCII: a reply's lone surrogate ("\\ud800") stays an escape, which SQLite can store
        value = json.dumps([_dump_generation(g) for g in return_val])
        value = remove_secrets(value, self.secrets)
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?)",
                (self._key(prompt, llm_string), value),
            )

    def clear(self, **kwargs: Any) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM responses")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _dump_generation(generation: Generation) -> dict[str, Any]:
    if isinstance(generation, ChatGeneration):
        return {"message": message_to_dict(generation.message)}
    return {"text": generation.text, "info": generation.generation_info}


def _load_generation(item: dict[str, Any]) -> Generation:
    if "message" in item:
        return ChatGeneration(message=messages_from_dict([item["message"]])[0])
    return Generation(text=item["text"], generation_info=item.get("info"))
