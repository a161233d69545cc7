"""What the web server adds around the Gradio app: security headers, no uploads, bounded sessions.

Gradio 6 serves the app with FastAPI; ``launch_security_options`` returns the ``Blocks.launch``
arguments that put ``SecurityMiddleware`` (a plain ASGI middleware, so streamed answers stay
streamed) in front of every route, refuse uploads (the chat takes none), keep the index and
corpus folders out of Gradio's file routes, and bound what is kept per session.
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

#: Sessions whose state (chat turns) the server keeps; the least recently used are dropped beyond it.
SESSION_CAPACITY = 500
#: Seconds a session's state is kept after its last update.
SESSION_TTL_SECONDS = 3600
#: Worker threads of the server (Gradio's default is 40): each thread that runs the model keeps its own
#: allocator arena and buffers, so the app's memory grows until every worker has run once; fewer workers,
#: less to grow. The chat answers 8 questions at once (rag.app.ui.CONCURRENCY), so 16 leave room for the rest.
MAX_THREADS = 16


class SecurityMiddleware:
    """ASGI middleware: adds ``SECURITY_HEADERS`` to every HTTP response and answers 404 to upload routes.

    Example: ``FastAPI(middleware=[Middleware(SecurityMiddleware)])``
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.rstrip("/").endswith(BLOCKED_SUFFIXES):
            log.info("refused %s %s: uploads are off", scope.get("method"), path)
            await _plain(send, 404, b"uploads are off: this app takes no files\n")
            return

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


async def _plain(send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
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
