"""What the web server adds around the Gradio app: security headers, no uploads, bounded requests and sessions.

Gradio 6 serves the app with FastAPI; ``launch_security_options`` returns the ``Blocks.launch``
arguments that put ``SecurityMiddleware`` (a plain ASGI middleware, so streamed answers stay
streamed) in front of every route, refuse uploads (the chat takes none) and request bodies over
``MAX_BODY_BYTES``, keep the index and corpus folders out of Gradio's file routes, and bound what
is kept per session.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

# Gradio's page runs inline scripts (its config) and compiles the components' ``js_on_load`` with
# ``new Function``, so scripts need 'unsafe-inline' and 'unsafe-eval'; everything else is this
# origin only: no third-party script, style, font, frame or connection, and no framing by others.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-src 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
])

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}

#: Gradio routes the chat never uses and that would let anyone store files on the server.
BLOCKED_SUFFIXES = ("/upload", "/upload_progress")

#: The largest request body read (bytes); a larger one is answered 413 without being read. A chat request
#: carries the question (at most 2,000 characters) and the chat so far (at most rag.app.ui.MAX_MESSAGES
#: messages of rendered answers): a full chat of 60 messages at k=10 on the seeds is 0.28 MB as Gradio's
#: Python client sends it (every Arabic letter a 6-byte \u escape), 0.14 MB from a browser; passages of the
#: longest chunk_tokens allowed would make it about six times that. Before the cap, one 200 MB request
#: was queued (and its payload logged).
MAX_BODY_BYTES = 4 * 1024 * 1024

#: Sessions whose state (chat turns) the server keeps; the least recently used are dropped beyond it.
SESSION_CAPACITY = 500
#: Seconds a session's state is kept after its last update.
SESSION_TTL_SECONDS = 3600
#: Worker threads of the server (Gradio's default is 40): each thread that runs the model keeps its own
#: allocator arena and buffers, so the app's memory grows until every worker has run once; fewer workers,
#: less to grow. The chat answers 8 questions at once (rag.app.ui.CONCURRENCY), so 16 leave room for the rest.
MAX_THREADS = 16


class SecurityMiddleware:
    """ASGI middleware: adds ``SECURITY_HEADERS`` to every HTTP response, answers 404 to upload routes and
    413 to a request body over ``max_body_bytes`` (unread: its size is logged, never its content).

    Example: ``FastAPI(middleware=[Middleware(SecurityMiddleware)])``
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.rstrip("/").endswith(BLOCKED_SUFFIXES):
            log.info("refused %s %s: uploads are off", scope.get("method"), path)
            await _plain(send, 404, b"uploads are off: this app takes no files\n")
            return
        headers = dict(scope.get("headers") or [])
        declared = _content_length(headers.get(b"content-length"))
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, send, f"{declared:,} bytes")
            return
        if declared is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            # No length given: read the body here, up to the limit, and hand the app what was read.
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                await self._too_large(scope, send, "a chunked body")
                return
            receive = _replay(body, receive)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _too_large(self, scope: Scope, send, size: str) -> None:
        log.info("refused %s %s: the body (%s) is over the limit of %s bytes", scope.get("method"),
                 scope.get("path", ""), size, f"{self.max_body_bytes:,}")
        # Closing the connection ends the upload too: the server would otherwise read the rest to reuse it.
        await _plain(send, 413, f"request body too large: the limit is {self.max_body_bytes:,} bytes\n".encode(),
                     close=True)


def _content_length(value: bytes | None) -> int | None:
    """The Content-Length header's value as a number (None when absent or not a number).

    Example: ``_content_length(b"12") == 12``
    """
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes ``limit`` bytes.

    Example: ``await _read_body(receive, 4096)`` -> ``b'{"data": ...}'``
    """
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the app sees the disconnect next
            return b"".join(parts)
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        parts.append(body)
        if not message.get("more_body"):
            return b"".join(parts)


def _replay(body: bytes, receive):
    """A ``receive`` that gives ``body`` first, then whatever ``receive`` gives (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _plain(send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def launch_security_options(blocked: list[Path] | None = None) -> dict[str, Any]:
    """``Blocks.launch`` arguments for the headers, no uploads, blocked folders and bounded sessions.

    Example: ``demo.launch(**launch_security_options([settings.index_dir, settings.corpus_dir]))``

    Args:
        blocked: Folders Gradio must never serve (made absolute), e.g. the index and the corpus.
    """
    return {
        "app_kwargs": {"middleware": [Middleware(SecurityMiddleware)]},
        "max_file_size": 1,  # bytes: a second lock on the upload route the middleware already closes
        "blocked_paths": [str(Path(p).resolve()) for p in blocked or []],
        "state_session_capacity": SESSION_CAPACITY,
        "max_threads": MAX_THREADS,
        # Gradio 6 would otherwise save every question and answer in the browser's storage and
        # serve a run-history page: nothing the chat needs, and a copy of each chat kept on the device.
        "run_history": False,
    }
