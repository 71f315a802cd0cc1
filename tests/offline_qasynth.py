"""``python tests/offline_qasynth.py ARGS`` runs the qasynth command in a real process with
the offline test encoding, so subprocess tests need neither the network nor tiktoken's files."""

from __future__ import annotations

from conftest import build_offline_encoding

import qasynth._tokens
from qasynth._cli import main

if __name__ == "__main__":
    encoding = build_offline_encoding()
    qasynth._tokens._load = lambda name: encoding  # type: ignore[assignment]
    main()
