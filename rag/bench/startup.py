"""A fresh process that loads the index and the model and answers one question: start-up time and peak memory."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from rag.bench.common import child_env
from rag.config import Settings
from rag.errors import RagError

if TYPE_CHECKING:
    pass


log = logging.getLogger(__name__)


_STARTUP_SCRIPT = """
import time
t0 = time.perf_counter()
import json, resource, sys
from rag.config import Settings
from rag.pipeline import Pipeline
t1 = time.perf_counter()
pipeline = Pipeline.load(Settings.from_env())
t2 = time.perf_counter()
answer = pipeline.ask(sys.argv[1])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_answer_s": t3 - t2,
                  "abstained": answer.abstained,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def bench_startup(
    settings: Settings, question: str, timeout: float = 600, torch_threads: int | None = None
) -> dict[str, Any]:
    """Time a fresh Python process from start to its first answer on the existing index, and its peak RSS.

    Example: ``bench_startup(settings, "How much is the deal worth?")["startup_s"] > 0``
    """
    env, root = child_env(settings, torch_threads)
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _STARTUP_SCRIPT, question], capture_output=True, text=True, env=env, cwd=root,
        timeout=timeout,
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RagError(f"the startup measure failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    phases = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "startup_s": round(wall, 3),
        "phases_s": {k: round(phases[k], 3) for k in ("import_s", "load_s", "first_answer_s")},
        "interpreter_s": round(wall - sum(phases[k] for k in ("import_s", "load_s", "first_answer_s")), 3),
        "peak_rss_mb": round(phases["maxrss_kb"] / 1024, 1),
    }
