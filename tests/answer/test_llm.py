from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag.answer.llm import OpenAIChat, TransformersChat, _error_message, _sse_events
from rag.config import Settings
from rag.errors import BackendError

MESSAGES = [
    {"role": "system", "content": "أجب من المقاطع فقط."},
    {"role": "user", "content": "كم قيمة الصفقة؟"},
]


class OpenAIServer:
    """A real HTTP server speaking the OpenAI chat-completions protocol, scripted per test.

    Attributes:
        reply: The text to send; streamed as these deltas when the request asks for ``stream``.
        status: The HTTP status; above 399 an OpenAI-style error body carries ``error_message``.
        raw_body: When set, sent as is (with status 200) instead of a proper reply.
        ignore_stream: Answer with one JSON body even when ``stream`` is requested.
        delay: Seconds to wait before replying.
        gate: When set, the server sends the first delta and waits for this event before the rest.
        requests: What the server received: ``{"path", "headers", "body"}``.
    """

    def __init__(self, reply: list[str] | None = None, **script: Any) -> None:
        self.reply = reply or ["The deal ", "is worth ", "«38 مليار دولار»", " [1]."]
        self.status = 200
        self.error_message = "model overloaded"
        self.raw_body: str | None = None
        self.ignore_stream = False
        self.delay = 0.0
        self.gate: threading.Event | None = None
        for key, value in script.items():
            setattr(self, key, value)
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                time.sleep(owner.delay)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if owner.status >= 400:
                    return self._send(owner.status, {"error": {"message": owner.error_message, "type": "x"}})
                if owner.raw_body is not None:
                    return self._send(200, owner.raw_body)
                if body.get("stream") and not owner.ignore_stream:
                    return self._stream(body["model"])
                message = {"role": "assistant", "content": "".join(owner.reply)}
                self._send(200, {"id": "c1", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

            def _send(self, status: int, payload: Any) -> None:
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, model: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.end_headers()

                def event(delta: dict[str, Any], finish: str | None = None) -> None:
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": model,
                             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()

                event({"role": "assistant", "content": ""})
                for i, text in enumerate(owner.reply):
                    event({"content": text})
                    if i == 0 and owner.gate is not None:
                        owner.gate.wait(5)
                self.wfile.write(b": keep-alive comment\n\n")
                event({}, finish="stop")
                self.wfile.write(b"data: [DONE]\n\n")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_streams_deltas_in_order_and_sends_the_request() -> None:
    with OpenAIServer() as server:
        chat = OpenAIChat(server.url + "/", "test-model", api_key="sk-test", max_tokens=64)
        deltas = list(chat.stream_chat(MESSAGES))
    assert deltas == server.reply
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert (body["model"], body["messages"], body["stream"], body["temperature"], body["max_tokens"]) == (
        "test-model", MESSAGES, True, 0, 64)


def test_deltas_arrive_before_the_reply_is_complete() -> None:
    gate = threading.Event()
    with OpenAIServer(gate=gate) as server:
        stream = OpenAIChat(server.url, "m").stream_chat(MESSAGES)
        first = next(stream)  # the server holds the rest back until the gate opens
        gate.set()
        rest = list(stream)
    assert [first, *rest] == server.reply


def test_no_api_key_sends_no_authorization() -> None:
    with OpenAIServer() as server:
        assert OpenAIChat(server.url, "m").complete(MESSAGES) == "".join(server.reply)
    assert "Authorization" not in server.requests[0]["headers"]


def test_server_that_ignores_stream_gives_one_delta() -> None:
    with OpenAIServer(ignore_stream=True) as server:
        assert list(OpenAIChat(server.url, "m").stream_chat(MESSAGES)) == ["".join(server.reply)]


def test_http_error_carries_the_server_message() -> None:
    with OpenAIServer(status=500, error_message="CUDA out of memory") as server:
        with pytest.raises(BackendError, match=r"HTTP 500: CUDA out of memory") as info:
            list(OpenAIChat(server.url, "m").stream_chat(MESSAGES))
    assert server.url in str(info.value)


def test_wrong_path_is_a_backend_error() -> None:
    with OpenAIServer() as server:
        with pytest.raises(BackendError, match="HTTP 404"):
            OpenAIChat(server.url.removesuffix("/v1"), "m").complete(MESSAGES)


def test_connection_refused_is_a_backend_error() -> None:
    url = closed_port_url()
    with pytest.raises(BackendError, match="could not reach") as info:
        OpenAIChat(url, "m", timeout=5).complete(MESSAGES)
    assert url in str(info.value)


def test_timeout_is_a_backend_error() -> None:
    with OpenAIServer(delay=1.0) as server:
        with pytest.raises(BackendError, match="did not answer within 0.2 s"):
            OpenAIChat(server.url, "m", timeout=0.2).complete(MESSAGES)


@pytest.mark.parametrize("raw", ["<html>Bad gateway</html>", '{"unexpected": true}', "[1, 2]"])
def test_malformed_reply_is_a_backend_error(raw: str) -> None:
    with OpenAIServer(raw_body=raw) as server:
        with pytest.raises(BackendError, match="127.0.0.1"):
            OpenAIChat(server.url, "m").complete(MESSAGES)


def test_from_settings() -> None:
    with pytest.raises(BackendError, match="RAG_OPENAI_BASE_URL"):
        OpenAIChat.from_settings(Settings(openai_model="m"))
    with pytest.raises(BackendError, match="http"):
        OpenAIChat("127.0.0.1:8000/v1", "m")
    chat = OpenAIChat.from_settings(
        Settings(openai_base_url="http://127.0.0.1:1/v1", openai_model="m", request_timeout=7.0, max_new_tokens=9)
    )
    assert (chat.url, chat.model, chat.timeout, chat.max_tokens) == ("http://127.0.0.1:1/v1/chat/completions",
                                                                    "m", 7.0, 9)


def test_sse_and_error_helpers() -> None:
    assert list(_sse_events(iter(["data: a", "", ": ping", "event: x", "data: b", "data: c"]))) == ["a", "b\nc"]
    assert _error_message('{"error": {"message": "no such model"}}') == "no such model"
    assert _error_message('{"detail": "Not Found"}') == "Not Found"
    assert _error_message("plain text") == "plain text"


# --- TransformersChat on a tiny randomly initialised model --------------------------------------

SENTENCES = [
    "أعلنت الشركة عن اتفاقية بقيمة 38 مليار دولار",
    "ارتفعت أسهم أمازون بعد الإعلان",
    "the deal is worth 38 billion dollars",
    "system user assistant :",
]


def build_tiny_model(path: Path, chat_template: str | None = None) -> Path:
    """Save a 1-layer GPT-2 with a word-level tokenizer trained on a few sentences to ``path``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                        eos_token="[EOS]")
    if chat_template:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=128, vocab_size=len(tokenizer),
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        # Special tokens score 0 and ordinary ones come in +w/-w pairs, so some ordinary token always
        # scores above 0: greedy decoding emits words instead of stopping (or emitting [PAD]) at once.
        weight = model.lm_head.weight
        special = set(tokenizer.all_special_ids)
        ordinary = [i for i in range(len(tokenizer)) if i not in special]
        for a, b in zip(ordinary[::2], ordinary[1::2], strict=False):
            weight[b] = -weight[a]
        weight[sorted(special)] = 0
    model.save_pretrained(path)
    return path


def stream_collect(chat: TransformersChat) -> list[str]:
    deltas: Iterator[str] = chat.stream_chat([{"role": "user", "content": "أعلنت الشركة"}])
    return list(deltas)


@pytest.mark.parametrize("template", [None, "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} "
                                            "{% endfor %}{% if add_generation_prompt %}assistant :{% endif %}"])
def test_transformers_chat_streams_tokens(tmp_path: Path, template: str | None) -> None:
    path = build_tiny_model(tmp_path / "tiny", template)
    chat = TransformersChat.from_settings(Settings(transformers_model=str(path), max_new_tokens=5))
    assert chat.name == f"transformers:{path}"
    assert chat._prompt([{"role": "user", "content": "x"}]) == (
        ("user : x assistant :", True) if template else ("user: x\n\nassistant:", False))
    deltas = stream_collect(chat)
    assert deltas and all(isinstance(d, str) for d in deltas)
    words = "".join(deltas).split()
    assert 1 <= len(words) <= 5  # greedy: at most max_new_tokens words from the tiny vocabulary
    vocab = {w for s in SENTENCES for w in s.split()}
    assert set(words) <= vocab
    assert "".join(deltas) == chat.complete([{"role": "user", "content": "أعلنت الشركة"}])  # greedy is repeatable


def test_transformers_chat_prompt_too_long(tmp_path: Path) -> None:
    chat = TransformersChat(str(build_tiny_model(tmp_path / "tiny")), max_new_tokens=5)
    with pytest.raises(BackendError, match="context"):
        chat.complete([{"role": "user", "content": "الشركة " * 200}])


def test_transformers_chat_load_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="could not load"):
        TransformersChat(str(tmp_path / "missing"))
    with pytest.raises(BackendError, match="RAG_TRANSFORMERS_MODEL"):
        TransformersChat.from_settings(Settings())
