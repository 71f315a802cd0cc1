"""``python -m qasynth``: the same as the ``qasynth`` command."""

from __future__ import annotations

from ._cli import run

if __name__ == "__main__":
    run(prog_name="qasynth")
