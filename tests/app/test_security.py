"""rag.app.security and the web surface of the real app: where it listens, what its routes serve, its headers.

The server tests start ``app.py`` (the real model, index and Gradio server) on a loopback port and
talk to it over HTTP and through Gradio's own client; one test drives Chromium to check that the
Content-Security-Policy leaves the page working.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rag.app.security import SECURITY_HEADERS, SecurityMiddleware
from rag.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
INJECTION = (
    'Zebra festival <script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">\n'
    "The Serengeti zebra festival draws thousands of zebras every March to sing by the river "
    '<img src=x onerror="window.__pwned=1"> and <script>window.__pwned=1</script>.\n'
)

# --- the middleware on its own ---------------------------------------------------------------------------------


def _call(path: str) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html"), (b"x-frame-options", b"SAMEORIGIN")]})
        await send({"type": "http.response.body", "body": b"page"})

    async def send(message):
        sent.append(message)

    asyncio.run(SecurityMiddleware(app)({"type": "http", "path": path, "method": "POST"}, None, send))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_middleware_adds_headers_without_overriding_and_refuses_uploads():
    status, headers, body = _call("/")
    assert status == 200 and body == b"page"
    assert headers["x-frame-options"] == "SAMEORIGIN"  # an app's own header is kept
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy"):
        assert headers[name] == SECURITY_HEADERS[name]
    for path in ("/gradio_api/upload", "/upload", "/gradio_api/upload_progress", "/gradio_api/upload/"):
        status, headers, body = _call(path)
        assert status == 404 and b"uploads are off" in body and "content-security-policy" in headers


def _request(headers: dict[bytes, bytes], chunks: list[bytes], limit: int) -> tuple[int, bytes, list[bytes]]:
    """The status and body ``SecurityMiddleware(limit)`` answers to a POST of ``chunks``, and the body the app read."""
    sent: list[dict] = []
    read: list[bytes] = []
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def app(scope, receive, send):
        while True:
            message = await receive()
            read.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/gradio_api/queue/join", "method": "POST", "headers": list(headers.items())}
    asyncio.run(SecurityMiddleware(app, max_body_bytes=limit)(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), read


def test_middleware_refuses_a_body_over_the_limit_unread_and_passes_the_rest():
    # Declared too long: answered before anything is read.
    status, body, read = _request({b"content-length": b"11"}, [b"x" * 11], limit=10)
    assert status == 413 and b"the limit is 10 bytes" in body and read == []
    # Chunked (no length): read up to the limit, then refused; within it, handed to the app whole.
    status, _, read = _request({b"transfer-encoding": b"chunked"}, [b"x" * 6, b"y" * 6], limit=10)
    assert status == 413 and read == []
    status, body, read = _request({b"transfer-encoding": b"chunked"}, [b"x" * 5, b"y" * 5], limit=10)
    assert (status, body, b"".join(read)) == (200, b"ok", b"x" * 5 + b"y" * 5)
    status, _, read = _request({b"content-length": b"10"}, [b"x" * 10], limit=10)
    assert status == 200 and read == [b"x" * 10]


# --- the real app ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, seed_index):
    """``app.py`` over the seeds plus one article that tries to run script, on a free loopback port."""
    from rag.bench.load import AppProcess

    folder = tmp_path_factory.mktemp("web")
    corpus = folder / "corpus"
    corpus.mkdir()
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    (corpus / "999_injection.txt").write_text(INJECTION, encoding="utf-8")
    index_dir = folder / "index"
    shutil.copytree(seed_index[0].index_dir, index_dir)  # only the new article is embedded at start-up
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)
    with AppProcess(settings, startup_timeout=600) as app:
        yield app


def _get(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                out.add(address)
    return out


@pytest.mark.slow
def test_the_app_listens_on_loopback_only(app_server):
    from app import parse_args

    assert parse_args([]).host == "127.0.0.1"
    assert _listening_addresses(app_server.port) == {"0100007F"}  # 127.0.0.1, nothing on 0.0.0.0 or ::


@pytest.mark.slow
def test_the_page_carries_the_security_headers(app_server):
    status, headers, body = _get(app_server.url)
    assert status == 200 and b"<html" in body.lower()
    lower = {k.lower(): v for k, v in headers.items()}
    assert "frame-ancestors 'none'" in lower["content-security-policy"]
    assert lower["x-frame-options"] == "DENY"
    assert lower["x-content-type-options"] == "nosniff"
    assert lower["referrer-policy"] == "no-referrer"
    status, headers, _ = _get(app_server.url + "gradio_api/info")
    assert "content-security-policy" in {k.lower() for k in headers}


@pytest.mark.slow
def test_file_routes_serve_nothing_outside_the_app(app_server):
    index_dir = Path(app_server.settings.index_dir).resolve()
    corpus_dir = Path(app_server.settings.corpus_dir).resolve()
    secret = {
        "/etc/passwd": b"root:",
        str(index_dir / "CURRENT"): b"build-",
        str(corpus_dir / "999_injection.txt"): b"Zebra",
        str(ROOT / "app.py"): b"def main",
        str(ROOT / "pyproject.toml"): b"[project]",
    }
    build = (index_dir / "CURRENT").read_text().strip()
    secret[str(index_dir / build / "manifest.json")] = b"format_version"
    base = app_server.url.rstrip("/")
    for path, marker in secret.items():
        relative = os.path.relpath(path, ROOT)
        for route in (f"/gradio_api/file={path}", f"/file={path}", f"/gradio_api/file={relative}",
                      f"/gradio_api/file=../../../../../..{path}", f"/gradio_api/file=%2e%2e%2f%2e%2e%2f{relative}",
                      f"/static/../../../../..{path}", f"/assets/..%2f..%2f..%2f..{path}",
                      f"/gradio_api/file=//{path.lstrip('/')}"):
            status, _, body = _get(base + route)
            assert marker not in body, f"{route} served {path} ({status})"


@pytest.mark.slow
def test_uploads_are_refused_and_nothing_is_stored(app_server):
    boundary = "xyzBOUNDARY"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * 2_000_000 + \
        f"\r\n--{boundary}--\r\n".encode()
    upload_dir = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    before = set(upload_dir.rglob("big.bin")) if upload_dir.exists() else set()
    for route in ("/gradio_api/upload", "/upload"):
        for body in (b"", payload):
            try:
                status, _, reply = _get(app_server.url.rstrip("/") + route, "POST", body,
                                        {"Content-Type": f"multipart/form-data; boundary={boundary}"})
            except urllib.error.URLError as e:  # refused before the body was read: the server hung up
                assert isinstance(e.reason, (BrokenPipeError, ConnectionResetError)), e
                continue
            assert status in (404, 405, 413) and b"big.bin" not in reply, (route, status)
    after = set(upload_dir.rglob("big.bin")) if upload_dir.exists() else set()
    assert after == before


def _raw_request(port: int, head: bytes, body_parts=()) -> bytes:
    """What the server answers to ``head`` and the body parts, sent while the answer is being read."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(head)

        def upload() -> None:
            try:
                for part in body_parts:
                    conn.sendall(part)
            except OSError:  # the server answered and closed: the rest is never sent
                pass

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        reply = b""
        try:
            while data := conn.recv(65536):
                reply += data
        except OSError:  # a reset after the answer: the server closed with the rest of the upload unread
            pass
        sender.join(timeout=60)
    return reply


@pytest.mark.slow
def test_an_oversized_request_body_is_refused_unread_and_not_logged(app_server):
    from gradio_client import Client

    from rag.app.security import MAX_BODY_BYTES

    route = "/gradio_api/queue/join"
    logged_before = len(app_server.log_path.read_bytes())
    marker = b"OVERSIZED-BODY-MARKER-"
    piece = marker * (65536 // len(marker))
    # A declared length over the cap: refused before the body is read (only 2 MB of the 200 MB are sent).
    head = (f"POST {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {200_000_000}\r\n\r\n").encode()
    reply = _raw_request(app_server.port, head, [piece] * 32)
    assert reply.startswith(b"HTTP/1.1 413") and f"the limit is {MAX_BODY_BYTES:,} bytes".encode() in reply
    assert b"content-security-policy" in reply.lower()
    # No length, chunks: read up to the cap, then refused.
    head = (f"POST {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    reply = _raw_request(app_server.port, head, [chunk] * (MAX_BODY_BYTES // len(piece) + 8) + [b"0\r\n\r\n"])
    assert reply.startswith(b"HTTP/1.1 413")
    # A long question with a long chat (the same answer 29 times: 58 messages, the most a chat keeps) still works.
    client = Client(app_server.url, verbose=False, download_files=False)
    try:
        first = client.predict("How much is the OpenAI Amazon deal worth?", [], 10, "extractive", api_name="/respond")
        history = list(first[1]) * 29
        question = "ما قيمة الاتفاقية بين OpenAI وأمازون؟ " * 50  # 1,850 characters
        result = client.predict(question, history, 10, "extractive", api_name="/respond")
    finally:
        client.close()
    assert 'class="msg answer' in str(result[1][-1]) and len(result[1]) == 60
    log = app_server.log_path.read_bytes()[logged_before:].decode(errors="replace")
    assert marker.decode() not in log
    assert log.count(f"is over the limit of {MAX_BODY_BYTES:,} bytes") == 2


@pytest.mark.slow
def test_crafted_feedback_events_leave_no_traceback_in_the_app_log(app_server):
    logged_before = len(app_server.log_path.read_bytes())
    config = json.loads(_get(app_server.url + "config")[2])
    [like] = [d["id"] for d in config["dependencies"] if any(t[1] == "like" for t in d["targets"])]
    for index in (None, {}, {"0": 1}, "1", [None]):
        body = json.dumps({"data": [None], "event_data": {"index": index, "value": "x", "liked": True},
                           "fn_index": like, "session_hash": "crafted"}).encode()
        status, _, _ = _get(app_server.url + "gradio_api/queue/join", "POST", body,
                            {"Content-Type": "application/json"})
        assert status == 200
    def log() -> str:
        return app_server.log_path.read_bytes()[logged_before:].decode(errors="replace")

    deadline = time.monotonic() + 30
    while log().count("ignored a feedback event") < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert log().count("ignored a feedback event") == 5 and "Traceback" not in log()


@pytest.mark.slow
def test_answers_and_article_views_escape_html(app_server):
    from gradio_client import Client

    client = Client(app_server.url, verbose=False, download_files=False)
    try:
        result = client.predict("<img src=x onerror=alert(1)> When does the zebra festival take place?", [], 5,
                                "extractive", api_name="/respond")
    finally:
        client.close()
    chat = result[1]
    # The HTML outputs: the chat, the sources panel and the article view. (The article picker's labels are
    # plain text that Gradio renders as text, so a title's "<script>" is shown there as typed.)
    html_outputs = [x for x in result if isinstance(x, str) and x.lstrip().startswith(("<div", "<article"))]
    shown = str(chat) + "".join(html_outputs)
    assert "999_injection.txt" in shown and len(html_outputs) >= 2  # the article with markup was shown
    for raw in ("<script", "<img", "onerror=\""):
        assert raw not in shown
    assert "&lt;img src=x onerror=alert(1)&gt;" in str(chat) and "&lt;script&gt;" in shown


@pytest.mark.slow
@pytest.mark.browser
def test_the_page_works_under_its_content_security_policy(app_server):
    from tests.app.test_app import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(app_server.url)
            page.wait_for_selector("#question textarea", timeout=60_000)
            page.fill("#question textarea", "How much is the OpenAI Amazon deal worth?")
            page.press("#question textarea", "Enter")
            page.wait_for_selector("#chat .msg.answer", timeout=120_000)
            page.wait_for_selector("#article-view mark#quote", timeout=60_000)  # js_on_load ran its scroll
            assert violations == []
            assert page.evaluate("() => window.__pwned") is None
        finally:
            browser.close()
