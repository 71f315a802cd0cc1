"""Write docs/cli.md, the command-line reference, from the --help of every command.

Run it after changing an option or a help text:

    python scripts/gen_cli_docs.py [OUTPUT]

OUTPUT defaults to docs/cli.md. tests/test_cli_docs.py fails while the
committed docs/cli.md is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qasynth._cli._docs import cli_reference

TARGET = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def main(argv: list[str]) -> None:
    target = Path(argv[0]) if argv else TARGET
    target.write_text(cli_reference(), encoding="utf-8", newline="\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
