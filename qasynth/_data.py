"""Reading the JSON files shipped inside the package (``qasynth/data/``)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ._errors import ConfigurationError


def load_package_json(relative_path: str) -> Any:
    """Parse ``qasynth/<relative_path>``; a missing or broken file is a broken install."""
    try:
        text = resources.files("qasynth").joinpath(relative_path).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read qasynth/{relative_path} ({exc}); reinstall qasynth"
        ) from exc
