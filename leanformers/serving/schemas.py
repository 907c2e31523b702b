"""Request bodies, as the OpenAI API documents them, validated by pydantic.

Unknown fields are rejected (as OpenAI does: "Unrecognized request argument supplied"); fields
OpenAI knows but leanformers does not implement are accepted by the schema and refused with a
clear 400 by :func:`unsupported` when set to anything but their "off" value.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

__all__ = ["ChatCompletionRequest", "CompletionRequest", "EmbeddingRequest", "InferenceRequest", "unsupported"]

Number = Union[StrictInt, StrictFloat]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: StrictStr


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[StrictStr, list[Union[TextPart, dict[str, Any]]], None] = None
    name: StrictStr | None = None
    tool_calls: list[Any] | None = None
    tool_call_id: StrictStr | None = None
    refusal: StrictStr | None = None

    def text(self, index: int) -> str:
        if self.tool_calls or self.tool_call_id:
            raise ValueError(f"messages[{index}]: tool calls are not supported by leanformers serve.")
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        pieces = []
        for part in self.content:
            if not isinstance(part, TextPart):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ValueError(f"messages[{index}].content: only text parts are supported, not {kind!r}.")
            pieces.append(part.text)
        return "".join(pieces)


class StreamOptions(_Strict):
    include_usage: StrictBool | None = None
    include_obfuscation: StrictBool | None = None


class _Sampling(_Strict):
    model: StrictStr
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, gt=0, le=1)
    n: StrictInt | None = Field(None, ge=1, le=16)
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    stop: Union[StrictStr, list[StrictStr], None] = None
    seed: StrictInt | None = None
    frequency_penalty: Number | None = Field(None, ge=-2, le=2)
    presence_penalty: Number | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Number] | None = None
    user: StrictStr | None = None

    def stops(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > 4:
            raise ValueError("stop: at most 4 stop sequences.")
        return stops


class ChatCompletionRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: StrictBool | None = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None
    store: StrictBool | None = None
    metadata: dict[str, StrictStr] | None = None
    service_tier: StrictStr | None = None
    reasoning_effort: StrictStr | None = None
    modalities: list[StrictStr] | None = None


class CompletionRequest(_Sampling):
    prompt: Union[StrictStr, list[StrictStr], list[StrictInt], list[list[StrictInt]]]
    max_tokens: StrictInt | None = Field(16, ge=1)  # OpenAI's default for completions
    echo: StrictBool | None = None
    logprobs: StrictInt | None = None
    best_of: StrictInt | None = None
    suffix: StrictStr | None = None


class EmbeddingRequest(_Strict):
    model: StrictStr
    input: Union[StrictStr, list[StrictStr]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: StrictInt | None = None
    user: StrictStr | None = None


class InferenceRequest(_Strict):
    """The Hugging Face Inference API's body: ``{"inputs": ..., "parameters": {...}}``."""

    inputs: Any
    parameters: dict[str, Any] | None = None
    options: dict[str, Any] | None = None  # wait_for_model / use_cache: nothing to wait for here
    stream: StrictBool | None = None


def unsupported(body: BaseModel) -> list[tuple[str, str]]:
    """``(field, why)`` for the OpenAI fields this body sets that leanformers does not implement."""
    off = {"logprobs": (None, False, 0), "top_logprobs": (None, 0), "tools": (None, []), "tool_choice": (None, "none"),
           "functions": (None, []), "function_call": (None, "none"), "logit_bias": (None, {}), "echo": (None, False),
           "best_of": (None, 1), "suffix": (None, ""), "dimensions": (None,), "reasoning_effort": (None,),
           "modalities": (None, ["text"])}
    found = []
    for name, values in off.items():
        if name in type(body).model_fields and getattr(body, name) not in values:
            found.append((name, f"{name} is not supported by leanformers serve"))
    response_format = getattr(body, "response_format", None)
    if response_format is not None and response_format.get("type") != "text":
        found.append(("response_format", "response_format: only {\"type\": \"text\"} is supported by leanformers serve"))
    return found
