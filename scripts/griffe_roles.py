"""A docs-build extension: show Sphinx cross-reference roles in docstrings as code.

qasynth's docstrings say ``:class:`Dataset``` and ``:func:`synthesize```; the API
reference is Markdown, where those roles would print literally. This rewrites
each role to plain inline code when the reference is built (mkdocs.yml names it).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|exc|data|obj|doc):`~?([^`]+)`")


class SphinxRolesAsCode(griffe.Extension):
    """Replace ``:role:`name``` with ``name`` in inline code, for every loaded object."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(lambda m: f"`{m.group(1)}`", obj.docstring.value)
