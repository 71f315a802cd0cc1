"""A chain's links called directly, when no callback handler would see the chain.

Every runnable layer of ``prompt | model | parse`` (the sequence and each link)
configures callbacks, copies its config and runs its link in a task of its own;
with no handler to report to, that costs client CPU on every call and does nothing
else. :class:`~qasynth._chunk.ChunkRunner` then renders the prompt, calls the model
caller and parses the reply itself, under the config the chain would give its
links (:func:`link_config`, :func:`as_link`), so the same request is sent and the
same result comes back. With a handler (callbacks given, LangChain tracing or
debug output on) the chain runs as built, and the trace shows every link.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeGuard

from langchain_core.callbacks import AsyncCallbackManager
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config

from ._prompts import PromptLike, QAPrompt

__all__ = ["as_link", "builds_its_messages", "link_config", "untraced"]


def untraced(config: RunnableConfig) -> bool:
    """Whether no callback handler would see a run made under ``config``: none given
    and no LangChain tracing or debug output on (worked out by LangChain, as for every
    runnable; tags and metadata never add a handler, so they are left out)."""
    return not AsyncCallbackManager.configure(config.get("callbacks")).handlers


def link_config(config: RunnableConfig) -> RunnableConfig:
    """``config`` as a chain passes it to its links: the run name is the chain's own."""
    out = config.copy()
    out.pop("run_name", None)
    out.pop("run_id", None)
    return out


@contextlib.contextmanager
def as_link(config: RunnableConfig) -> Iterator[None]:
    """Run what is inside as a chain's link under ``config``: a runnable called without
    a config (the fixer's chain, in ``OutputFixingParser``) takes it from there."""
    token = var_child_runnable_config.set(config)
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


def builds_its_messages(prompt: PromptLike) -> TypeGuard[QAPrompt]:
    """Whether ``prompt`` as a link gives just its ``build_messages`` (its runnable
    methods are QAPrompt's own)."""
    methods = ("invoke", "ainvoke", "_render")
    return isinstance(prompt, QAPrompt) and all(
        getattr(type(prompt), name) is getattr(QAPrompt, name) for name in methods
    )
