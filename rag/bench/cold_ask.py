"""Cold ``rag ask``: a fresh ``rag ask QUESTION --json`` process, wall time from start to exit.

Its reference is what any sentence-transformers program pays before its first vector: a fresh
``python -c "import torch, sentence_transformers"`` that then loads the same model folder. The
ratio says how much of a cold ask is the project's own (index load, retrieval, answer) against
that floor; below 1 means the ask starts faster than loading the model the usual way.
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rag.bench.common import child_env
from rag.config import Settings
from rag.errors import RagError

log = logging.getLogger(__name__)

_REFERENCE_SCRIPT = """
import sys
import torch, sentence_transformers
from rag.embed.bundled import load_sentence_transformer
from rag.config import Settings
s = Settings.from_env()
load_sentence_transformer(s.model, s.model_cache)
"""


def _timed(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> float:
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RagError(f"{' '.join(args[:3])}… failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return wall


def bench_cold_ask(
    settings: Settings, question: str, *, runs: int = 3, timeout: float = 600, torch_threads: int | None = None
) -> dict[str, Any]:
    """Median wall time of ``runs`` cold ``rag ask --json`` processes and of the reference, alternated.

    The index in ``settings.index_dir`` must be current (``run_bench`` loads it first), so no
    run builds it.

    Example: ``bench_cold_ask(settings, "How much is the deal worth?")["cold_ask_over_reference"]``
    """
    env, root = child_env(settings, torch_threads)
    ask = [sys.executable, "-m", "rag", "ask", question, "--json"]
    reference = [sys.executable, "-c", _REFERENCE_SCRIPT]
    asks, refs = [], []
    for _ in range(max(1, runs)):  # alternated, so a burst of load from elsewhere hits both alike
        asks.append(_timed(ask, env, root, timeout))
        refs.append(_timed(reference, env, root, timeout))
    cold, ref = statistics.median(asks), statistics.median(refs)
    return {
        "cold_ask_s": round(cold, 3),
        "reference_s": round(ref, 3),
        "cold_ask_over_reference": round(cold / ref, 3),
        "runs": len(asks),
        "cold_ask_runs_s": [round(x, 3) for x in asks],
        "reference_runs_s": [round(x, 3) for x in refs],
        "reference": "python -c 'import torch, sentence_transformers' + the same model, loaded as rag loads it",
    }
