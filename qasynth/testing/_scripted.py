"""An in-process chat model that answers by the step asking, for tests and examples."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

__all__ = ["ScriptedChatModel", "StepReply"]

StepReply = str | BaseException | Callable[[list[BaseMessage]], "str | BaseException"]
"""A reply for a step: text, an exception to raise, or a function of the messages."""


class ScriptedChatModel(BaseChatModel):
    """Answers each call by the qasynth step that makes it (``generate``, ``fix``,
    ``topup``, ``judge``, ``paraphrase``, ``translate``, or a check's own name), read
    from the call's ``qasynth_step`` metadata — never from the prompt's wording.

    ``replies`` maps a step to a reply; a list is used in turn, one item per call
    (the last one repeats). Every call is recorded in ``calls`` as ``(step, messages)``.
    """

    replies: Mapping[str, StepReply | list[StepReply]]
    calls: list[tuple[str, list[BaseMessage]]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "qasynth-scripted"

    def steps(self) -> list[str]:
        """The step of every call so far, in order."""
        return [step for step, _ in self.calls]

    def _reply_for(self, step: str, messages: list[BaseMessage]) -> str:
        if step not in self.replies:
            raise KeyError(f"ScriptedChatModel has no reply for step {step!r}")
        reply = self.replies[step]
        if isinstance(reply, list):
            used = sum(1 for s, _ in self.calls if s == step) - 1
            reply = reply[min(used, len(reply) - 1)]
        out = reply(messages) if callable(reply) else reply
        if isinstance(out, BaseException):
            raise out
        return out

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        metadata = run_manager.metadata if run_manager is not None else {}
        step = str(metadata.get("qasynth_step", "generate"))
        self.calls.append((step, messages))
        text = self._reply_for(step, messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
