"""Chat models behind the generative answer backend: an OpenAI-compatible server or a local causal LM.

Both stream text deltas and turn every failure into a ``BackendError``, so the answerer can fall
back to the extractive answer and the UI keeps serving.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import httpx

from rag.config import Settings
from rag.errors import BackendError

log = logging.getLogger(__name__)

#: A reasoning model's hidden thoughts, removed from what it says.
THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


class ChatModel(Protocol):
    """A chat model that streams its reply."""

    name: str

    def stream_chat(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the reply to ``messages`` (``{"role", "content"}`` dicts) as text deltas.

        Raises:
            BackendError: The model could not be reached or replied with an error.
        """
        ...

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The whole reply to ``messages``."""
        ...


def _error_message(body: str) -> str:
    """The human part of an error reply: OpenAI's ``{"error": {"message"}}``, else the raw body.

    Example: ``_error_message('{"error": {"message": "no such model"}}') == "no such model"``
    """
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:500]
    return body.strip()[:500]


def _delta(payload: dict[str, Any], url: str) -> str:
    """The text in one streamed chunk (``choices[0].delta.content``) or non-streamed reply (``message``)."""
    if "error" in payload:
        raise BackendError(f"{url} reported an error: {_error_message(json.dumps(payload))}")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise BackendError(f"{url} sent a reply without 'choices': {json.dumps(payload)[:300]}")
    if not choices:
        return ""  # e.g. the final usage-only chunk
    choice = choices[0] or {}
    part = choice.get("delta") or choice.get("message") or {}
    return part.get("content") or choice.get("text") or ""


def _sse_events(lines: Iterator[str]) -> Iterator[str]:
    """Group Server-Sent Event lines into the data of each event; comments and other fields are skipped.

    Example: ``list(_sse_events(iter(["data: a", "", ": ping", "data: b"]))) == ["a", "b"]``
    """
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


class OpenAIChat:
    """Any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, llama.cpp, Ollama...).

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: The model name the server expects.
        api_key: Sent as ``Authorization: Bearer``; None sends no header.
        timeout: Seconds allowed to connect and between two reads.
        max_tokens: Reply length limit sent to the server; None leaves it to the server.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_tokens: int | None = None,
    ) -> None:
        if not base_url or not model:
            raise BackendError("the openai backend needs a base URL and a model name")
        if not base_url.startswith(("http://", "https://")):
            raise BackendError(f"openai base URL {base_url!r} must start with http:// or https://")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.name = f"openai:{model}"

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIChat:
        """The endpoint configured by ``openai_base_url``, ``openai_model`` and ``openai_api_key``.

        Raises:
            BackendError: The base URL or the model is not set.
        """
        if not settings.openai_base_url or not settings.openai_model:
            raise BackendError(
                "the openai backend needs RAG_OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1) "
                "and RAG_OPENAI_MODEL"
            )
        return cls(
            settings.openai_base_url,
            settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.request_timeout,
            max_tokens=settings.max_new_tokens,
        )

    def _payload(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0, "stream": True}
        if self.max_tokens is not None:
            payload["max_tokens"] = self.max_tokens
        return payload

    def stream_chat(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the reply's text deltas; a server that ignores ``stream`` gives one delta.

        Raises:
            BackendError: Connection refused, timeout, an HTTP error status (with the server's
                message) or a reply that is not chat-completions JSON.
        """
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            with httpx.Client(timeout=self.timeout) as client, client.stream(
                "POST", self.url, json=self._payload(messages), headers=headers
            ) as response:
                if response.status_code >= 400:
                    body = response.read().decode("utf-8", "replace")
                    raise BackendError(
                        f"{self.url} returned HTTP {response.status_code}: {_error_message(body)}"
                    )
                if "text/event-stream" in response.headers.get("content-type", ""):
                    yield from self._read_events(response.iter_lines())
                else:
                    yield self._read_json(response.read().decode("utf-8", "replace"))
        except httpx.TimeoutException as e:
            raise BackendError(f"{self.url} did not answer within {self.timeout:g} s ({type(e).__name__})") from e
        except httpx.HTTPError as e:
            raise BackendError(f"could not reach {self.url}: {e}") from e

    def _read_events(self, lines: Iterator[str]) -> Iterator[str]:
        for data in _sse_events(lines):
            if data.strip() == "[DONE]":
                return
            try:
                payload = json.loads(data)
            except ValueError as e:
                raise BackendError(f"{self.url} sent a malformed event: {data[:300]!r}") from e
            if not isinstance(payload, dict):
                raise BackendError(f"{self.url} sent a malformed event: {data[:300]!r}")
            if text := _delta(payload, self.url):
                yield text

    def _read_json(self, body: str) -> str:
        # Some servers answer with SSE lines but the wrong content type.
        if body.lstrip().startswith("data:"):
            return "".join(self._read_events(iter(body.splitlines())))
        try:
            payload = json.loads(body)
        except ValueError as e:
            raise BackendError(f"{self.url} sent a reply that is not JSON: {body[:300]!r}") from e
        if not isinstance(payload, dict):
            raise BackendError(f"{self.url} sent a reply that is not a JSON object: {body[:300]!r}")
        return _delta(payload, self.url)

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The whole reply to ``messages``."""
        return "".join(self.stream_chat(messages))


def _plain_prompt(messages: list[dict[str, str]]) -> str:
    """A prompt for a model without a chat template.

    Example: ``_plain_prompt([{"role": "user", "content": "hi"}]) == "user: hi\\n\\nassistant:"``
    """
    return "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant:"


def _merge_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Fold system messages into the first user message, for templates that reject the system role.

    Example: ``_merge_system([{"role": "system", "content": "a"}, {"role": "user", "content": "b"}])
    == [{"role": "user", "content": "a\\n\\nb"}]``
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest


class TransformersChat:
    """A local causal language model, by Hugging Face name or local path, decoded greedily.

    Args:
        model: Name or path of the model and its tokenizer.
        max_new_tokens: Reply length limit.

    Raises:
        BackendError: The model or tokenizer cannot be loaded.
    """

    def __init__(self, model: str, *, max_new_tokens: int = 256) -> None:
        if not model:
            raise BackendError("the transformers backend needs a model name or path")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(model)
        except Exception as e:  # missing files, unknown architecture, no network, bad weights...
            raise BackendError(f"could not load the causal LM {model!r}: {e}") from e
        self.model.eval()
        self.max_new_tokens = max_new_tokens
        self.name = f"transformers:{model}"
        # One generation at a time: concurrent generate() calls on one model only slow each other down.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersChat:
        """The model named by ``transformers_model``, with ``max_new_tokens``.

        Raises:
            BackendError: No model is configured, or it cannot be loaded.
        """
        if not settings.transformers_model:
            raise BackendError("the transformers backend needs RAG_TRANSFORMERS_MODEL (a name or a path)")
        return cls(settings.transformers_model, max_new_tokens=settings.max_new_tokens)

    def _prompt(self, messages: list[dict[str, str]]) -> tuple[str, bool]:
        """The prompt text and whether it already holds the special tokens (chat templates add them)."""
        if getattr(self.tokenizer, "chat_template", None):
            for attempt in (messages, _merge_system(messages)):
                try:
                    prompt = self.tokenizer.apply_chat_template(attempt, add_generation_prompt=True, tokenize=False)
                    return str(prompt), True
                except Exception as e:  # e.g. a template that raises on the system role
                    log.debug("chat template failed (%s); retrying without a system message", e)
            log.warning("the chat template of %s failed; using a plain prompt", self.name)
        return _plain_prompt(messages), False

    def stream_chat(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the reply's text as it is generated (greedy decoding in a background thread).

        Raises:
            BackendError: The prompt does not fit the model's context or generation failed.
        """
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        prompt, templated = self._prompt(messages)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=not templated)
        inputs.pop("token_type_ids", None)
        n_prompt = inputs["input_ids"].shape[1]
        limit = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", None
        )
        if limit and n_prompt + self.max_new_tokens > limit:
            raise BackendError(
                f"the prompt ({n_prompt} tokens) plus {self.max_new_tokens} new tokens exceeds the "
                f"{limit}-token context of {self.name}; lower k or max_new_tokens"
            )
        stop = threading.Event()

        class _Stop(StoppingCriteria):
            # Ends generation early when the consumer stops reading.
            def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.Tensor:
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        pad = self.tokenizer.pad_token_id
        errors: list[BaseException] = []

        def generate() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self.model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        pad_token_id=pad if pad is not None else self.tokenizer.eos_token_id,
                        stopping_criteria=StoppingCriteriaList([_Stop()]),
                    )
            except Exception as e:  # reported to the consumer, which is waiting on the streamer
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=generate, name="transformers-generate", daemon=True)
        thread.start()
        try:
            for text in streamer:
                if text:
                    yield text
        finally:
            stop.set()
        thread.join()
        if errors:
            raise BackendError(f"{self.name} failed while generating: {errors[0]}") from errors[0]

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The whole reply to ``messages``."""
        return "".join(self.stream_chat(messages))
