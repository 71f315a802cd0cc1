"""``python -m qasynth``: the same as the ``qasynth`` command."""

from __future__ import annotations

from ._cli import main

if __name__ == "__main__":
    main(prog_name="qasynth")
