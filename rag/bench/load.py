"""Many readers at once: the real app on a loopback port, driven through Gradio's own client.

``bench_load`` starts ``app.py`` in a subprocess, then runs two phases against the same process:

1. ``clients`` concurrent chats (default 32) for ``seconds`` (default 60): requests, errors, p50/p95
   latency, the app's RSS before and after;
2. ``long_clients`` chats (default 8) for ``long_seconds`` (default 300): the app's RSS sampled every
   second, its growth over the phase and over the phase's second half (does it level off?).

Each client is one chat session that keeps its conversation (the chat sent back with every question,
as the browser does), alternating Arabic and English gold questions. An error is an exception from the
client or a reply whose last message is not an answer. Figures are reported, never asserted.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from rag.bench.ask import bench_questions
from rag.bench.common import Progress, machine_info, quiet
from rag.config import Settings
from rag.errors import RagError
from rag.eval.metrics import percentile

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]  # the folder holding app.py and the rag package
#: The app's endpoint for a question (the Send button's; the Enter key's is ``/respond_1``).
API_NAME = "/respond"


def free_port() -> int:
    """A free TCP port on 127.0.0.1.

    Example: ``1024 <= free_port() < 65536``
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (from ``/proc``), None if it is gone.

    Example: ``rss_mb(os.getpid()) > 0``
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class AppProcess:
    """``python app.py`` on a loopback port over ``settings``' corpus and index; a context manager."""

    def __init__(self, settings: Settings, *, port: int | None = None, startup_timeout: float = 600) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.startup_timeout = startup_timeout
        self.folder = Path(tempfile.mkdtemp(prefix="rag-load-"))
        self.log_path = self.folder / "app.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> AppProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
               "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
               "RAG_FEEDBACK_PATH": str(self.folder / "feedback.jsonl"), "RAG_MODEL": self.settings.model,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(self.port),
                 "--corpus", str(Path(self.settings.corpus_dir).resolve()),
                 "--index-dir", str(Path(self.settings.index_dir).resolve())],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RagError(f"the app exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RagError(f"the app did not answer on {self.url} within {self.startup_timeout:.0f} s")
            time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def rss_mb(self) -> float | None:
        return rss_mb(self.proc.pid) if self.proc else None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def _is_answer(chat: Any) -> bool:
    """Whether the chat's last message is an assistant message with an answer bubble."""
    if not isinstance(chat, (list, tuple)) or not chat:
        return False
    last = chat[-1]
    content = last.get("content") if isinstance(last, dict) else None
    if isinstance(content, list):  # Gradio 6 may send message content as a list of parts
        content = " ".join(str(p.get("text", p)) if isinstance(p, dict) else str(p) for p in content)
    return isinstance(last, dict) and last.get("role") == "assistant" and 'class="msg answer' in str(content)


def run_clients(
    url: str, questions: list[str], clients: int, seconds: float, *, pid: int | None = None,
    k: int = 5, progress: Progress = quiet,
) -> dict[str, Any]:
    """``clients`` chat sessions asking ``questions`` in turn against ``url`` for ``seconds``.

    Example: ``run_clients(app.url, ["ما قيمة الصفقة؟"], 2, 5)["requests"] >= 1``

    Returns:
        requests, errors, error examples, latency p50/p95/max (ms), requests per second and, with
        ``pid``, the process's RSS sampled once a second.
    """
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    sessions = []
    for _ in range(clients):
        sessions.append(_client(url))
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def chat(i: int) -> None:
        client = sessions[i]
        history: list[Any] = []
        n = i  # each client starts at another question
        start.wait()
        while time.monotonic() < deadline[0]:
            question = questions[n % len(questions)]
            n += 1
            t = time.perf_counter()
            try:
                result = client.predict(question, history, k, "extractive", api_name=API_NAME)
                reply = result[1] if isinstance(result, (list, tuple)) and len(result) > 1 else None
                ok = _is_answer(reply)
                if ok and isinstance(reply, (list, tuple)):
                    history = list(reply)
                failure = None if ok else f"no answer in the reply to {question!r}: {str(reply)[:200]}"
            except Exception as e:  # any failure of the request is the measure's finding
                failure = f"{type(e).__name__}: {str(e)[:200]}"
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                if failure:
                    errors.append(failure)
                else:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=chat, args=(i,), daemon=True) for i in range(clients)]
    for th in threads:
        th.start()
    samples: list[tuple[float, float]] = []
    t0 = time.monotonic()
    deadline[0] = t0 + seconds
    start.wait()
    next_report = t0 + 30
    while any(th.is_alive() for th in threads):
        now = time.monotonic()
        if pid is not None:
            rss = rss_mb(pid)
            if rss is not None:
                samples.append((round(now - t0, 1), round(rss, 1)))
        if now >= next_report:
            progress(f"  {now - t0:.0f} s: {len(latencies)} answers, {len(errors)} errors"
                     + (f", RSS {samples[-1][1]:.0f} MB" if samples else ""))
            next_report += 30
        time.sleep(1.0)
    for th in threads:
        th.join()
    wall = time.monotonic() - t0
    for client in sessions:
        try:
            client.close()
        except Exception:  # closing is best effort: the measure is done
            pass
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_examples": errors[:5],
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "requests_per_s": round(len(latencies) / wall, 2) if wall > 0 else None,
        "rss_samples": samples,
    }


def rss_growth(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """RSS at the start, middle and end of a run and the growth in percent over the run and its second half.

    Example: ``rss_growth([(0, 100.0), (1, 104.0), (2, 105.0)])["growth_pct"] == 5.0``
    """
    if not samples:
        return {}
    first, middle, last = samples[0][1], samples[len(samples) // 2][1], samples[-1][1]
    return {
        "rss_start_mb": first,
        "rss_middle_mb": middle,
        "rss_end_mb": last,
        "rss_peak_mb": max(s[1] for s in samples),
        "growth_pct": round(100 * (last - first) / first, 2),
        "second_half_growth_pct": round(100 * (last - middle) / middle, 2),
    }


def bench_load(
    settings: Settings,
    *,
    gold_path: Path,
    clients: int = 32,
    seconds: float = 60,
    long_clients: int = 8,
    long_seconds: float = 300,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Start the app and measure it under ``clients`` chats, then under ``long_clients`` chats for memory growth.

    Example: ``bench_load(settings, gold_path=Path("seeds/gold_qa.jsonl"), clients=2, seconds=5, long_seconds=0)``

    Args:
        settings: Corpus, index and model of the app (the index is built by the app if missing).
        gold_path: Where the questions come from (alternating Arabic and English).
        clients: Concurrent chats of the first phase.
        seconds: Duration of the first phase.
        long_clients: Concurrent chats of the memory phase.
        long_seconds: Duration of the memory phase (0 skips it).
        progress: Called with a line of progress text.
    """
    if clients < 1 or seconds <= 0 or long_clients < 1 or long_seconds < 0:
        raise RagError("--clients and --long-clients must be >= 1, --seconds > 0 and --long-seconds >= 0")
    questions = bench_questions(gold_path, 40)
    result: dict[str, Any] = {"machine": machine_info(), "questions": len(questions)}
    progress(f"load: starting the app on 127.0.0.1 ({settings.index_dir})")
    t = time.perf_counter()
    with AppProcess(settings) as app:
        result["app_start_s"] = round(time.perf_counter() - t, 1)
        client = _client(app.url)  # one question first: it loads what the first answer needs
        reply = client.predict(questions[0], [], 5, "extractive", api_name=API_NAME)
        client.close()
        if not _is_answer(reply[1]):
            raise RagError(f"the app did not answer its first question: {str(reply)[:500]}\n{app.log_tail()}")
        proc = app.proc
        assert proc is not None  # started above
        rss_before = app.rss_mb or float("nan")
        progress(f"load: {clients} chats for {seconds:.0f} s (RSS {rss_before:.0f} MB)")
        phase = run_clients(app.url, questions, clients, seconds, pid=proc.pid, progress=progress)
        phase["rss_before_mb"] = round(rss_before, 1)
        phase["rss_after_mb"] = round(app.rss_mb or float("nan"), 1)
        phase["rss_peak_mb"] = max((s[1] for s in phase.pop("rss_samples")), default=None)
        result["load"] = phase
        if long_seconds:
            progress(f"load: {long_clients} chats for {long_seconds:.0f} s, RSS sampled every second")
            long = run_clients(app.url, questions, long_clients, long_seconds, pid=proc.pid, progress=progress)
            samples = long.pop("rss_samples")
            long.update(rss_growth(samples))
            long["rss_every_30s"] = samples[::30]
            result["long"] = long
        if proc.poll() is not None:
            raise RagError(f"the app died during the load: {app.log_tail()}")
    result["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    return result


def format_load(result: dict[str, Any]) -> str:
    """The readable summary ``rag bench --load`` prints.

    Example: ``"p95" in format_load(result)``
    """
    lines = []
    r = result["load"]
    lines.append(
        f"{r['clients']} chats for {r['seconds']} s: {r['requests']} requests, {r['errors']} errors, "
        f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, max {r['max_ms']} ms, {r['requests_per_s']} answers/s; "
        f"app RSS {r['rss_before_mb']} MB before, {r['rss_after_mb']} MB after (peak {r['rss_peak_mb']} MB)"
    )
    for e in r["error_examples"]:
        lines.append(f"  error: {e}")
    long = result.get("long")
    if long:
        lines.append(
            f"{long['clients']} chats for {long['seconds']} s: {long['requests']} requests, {long['errors']} errors, "
            f"p50 {long['p50_ms']} ms, p95 {long['p95_ms']} ms; app RSS {long.get('rss_start_mb')} -> "
            f"{long.get('rss_middle_mb')} -> {long.get('rss_end_mb')} MB (growth {long.get('growth_pct')} %, "
            f"{long.get('second_half_growth_pct')} % over the second half; goal < 5 %)"
        )
        for e in long["error_examples"]:
            lines.append(f"  error: {e}")
    m = result.get("machine") or {}
    lines.append(f"machine: {m.get('cores')} cores ({m.get('cpu', '?')}), load average {m.get('load_avg_1m')} "
                 f"at start, {m.get('load_avg_1m_end')} at the end; app started in {result.get('app_start_s')} s")
    return "\n".join(lines)
