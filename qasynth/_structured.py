"""Native structured outputs: when the provider enforces the reply's JSON schema.

``structured="auto"`` (the default, CLI ``--structured auto``) turns it on for
OpenAI's own chat models that support strict JSON schemas (``ChatOpenAI`` or
``AzureChatOpenAI``; gpt-4o-mini, gpt-4o from 2024-08-06, gpt-4.1*, gpt-5*,
o1, o3*, o4*), at OpenAI's URL or Azure. ``"on"`` forces it for any
OpenAI-compatible chat model (a local server that accepts ``response_format``);
``"off"`` never uses it.

In structured mode the generation and top-up calls carry
``response_format={"type": "json_schema", "json_schema": {..., "strict": true}}``
(bound per call through the run's model caller, so limits, retries and usage
counting are unchanged), the prompt leaves out the format example, and the
reply's JSON text still goes through the same local repair and fixer.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel

from ._errors import ConfigurationError
from ._llm import PROVIDERS, model_name_of
from ._pricing import normalise_model_name
from ._schema import QACollection

__all__ = [
    "STRUCTURED_MODES",
    "StructuredMode",
    "response_format",
    "strict_schema",
    "use_structured",
]

StructuredMode = Literal["auto", "on", "off"]
STRUCTURED_MODES: tuple[str, ...] = ("auto", "on", "off")
_STRICT_MODELS = re.compile(r"(gpt-4o-mini|gpt-4o|gpt-4\.1|gpt-5|o1|o3|o4)([-.:@].*)?")
_NO_STRICT = re.compile(r"(gpt-4o-2024-05-13|o1-mini|o1-preview)([-.:@].*)?")
_OPENAI_HOSTS = ("api.openai.com",)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema in the strict form providers accept: ``$defs`` inlined,
    every property required, no additional properties, no titles or descriptions
    (the schema's descriptions would cost prompt tokens on every call)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(defs[str(node["$ref"]).rsplit("/", 1)[-1]])
        out = {k: walk(v) for k, v in node.items() if k not in ("title", "description")}
        if out.get("type") == "object" and isinstance(out.get("properties"), dict):
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    result: dict[str, Any] = walk(schema)
    return result


def response_format(model: type[BaseModel] = QACollection) -> dict[str, Any]:
    """The ``response_format`` request field asking for ``model``'s strict schema."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "question_answer_pairs", "strict": True,
                        "schema": strict_schema(model)},
    }  # fmt: skip


def check_mode(mode: object) -> StructuredMode:
    """``mode`` as ``auto``/``on``/``off`` (``True``/``False`` mean on/off)."""
    if mode is True or mode is False:
        return "on" if mode else "off"
    if isinstance(mode, str) and mode.strip().lower() in STRUCTURED_MODES:
        value: StructuredMode = mode.strip().lower()  # type: ignore[assignment]
        return value
    raise ConfigurationError(
        f"structured={mode!r} is not a mode; use 'auto' (OpenAI models that support strict "
        "JSON schemas), 'on' or 'off' (CLI: --structured auto|on|off)"
    )


def supports_strict_schema(model: str) -> bool:
    """Whether an OpenAI model name supports strict JSON-schema replies."""
    name = normalise_model_name(model)
    return bool(_STRICT_MODELS.fullmatch(name)) and not _NO_STRICT.fullmatch(name)


def _openai_url(url: str | None) -> bool:
    if not url:
        return True
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in _OPENAI_HOSTS


def use_structured(
    mode: object, *, llm: BaseChatModel | None, model: str, base_url: str | None
) -> bool:
    """Whether a run uses structured outputs (see the module docstring).

    ``llm`` is the chat model object, or ``None`` for the default one that
    ``model`` and ``base_url`` (or ``OPENAI_BASE_URL``) would create; decided
    without creating it, so ``plan`` needs no API key."""
    chosen = check_mode(mode)
    if chosen == "off":
        return False
    if llm is None:
        provider, sep, _ = model.partition(":")
        openai_like = not (sep and provider.lower() in PROVIDERS and provider.lower() != "openai")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        exact, name = openai_like, model
    else:
        from langchain_openai import AzureChatOpenAI, ChatOpenAI
        from langchain_openai.chat_models.base import BaseChatOpenAI

        openai_like = isinstance(llm, BaseChatOpenAI)
        exact = isinstance(llm, (ChatOpenAI, AzureChatOpenAI))
        url = None if isinstance(llm, AzureChatOpenAI) else getattr(llm, "openai_api_base", None)
        name = model_name_of(llm)
    if chosen == "on":
        if not openai_like:
            what = type(llm).__name__ if llm is not None else repr(model)
            raise ConfigurationError(
                f"structured='on' needs an OpenAI-compatible chat model (response_format); "
                f"{what} is not one: use structured='auto' or 'off' (--structured)"
            )
        return True
    return exact and _openai_url(url) and supports_strict_schema(name)
