"""What every measure shares: the goals, ratios against them, timing helpers and the machine's description."""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rag.config import Settings


log = logging.getLogger(__name__)


GOALS = {
    "ask_over_embed": 1.5,
    "reader_over_embed": 3.0,
    "build_over_encode": 1.2,
    "build_over_encode_all": 1.2,
    "reindex_unchanged": 0.05,
    "ann_recall@10": 0.95,
    "ann_speedup": 10.0,
}


Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The default progress callback: say nothing."""


def sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits, so tiny ratios do not round to 0."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else value


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, ``nan`` when the denominator is not positive.

    Example: ``ratio(3.0, 2.0) == 1.5``
    """
    return numerator / denominator if denominator > 0 else math.nan


def meets(value: float, goal: float, lower_is_better: bool = True) -> bool | None:
    """Whether ``value`` reaches ``goal``; None when it could not be measured.

    Example: ``meets(1.2, 1.5) is True`` and ``meets(0.9, 0.95, lower_is_better=False) is False``
    """
    if value is None or math.isnan(value):
        return None
    return value <= goal if lower_is_better else value >= goal


def best_times(fns: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict[str, float], dict[str, Any]]:
    """The fastest of ``repeat`` calls of each function, calls interleaved round-robin so that other load
    on the machine falls on every measure alike; also the last result of each."""
    best = dict.fromkeys(fns, math.inf)
    out: dict[str, Any] = {}
    for _ in range(max(1, repeat)):
        for name, fn in fns.items():
            t = time.perf_counter()
            out[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best, out


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory and library versions, so figures can be compared across machines.

    Example: ``machine_info()["cores"] >= 1``
    """
    import faiss

    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "faiss": faiss.__version__,
        "faiss_threads": faiss_threads(),
        "numpy": np.__version__,
        # Other work on the machine slows every measure; the 1-minute load average says how busy it was.
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    return info


def faiss_threads() -> int:
    import faiss

    return int(faiss.omp_get_max_threads())


def child_env(settings: Settings, torch_threads: int | None = None) -> tuple[dict[str, str], Path]:
    """The environment and working folder of a fresh process that must see what ``settings`` say.

    Index, corpus, model and store settings travel as ``RAG_*`` variables (the child reads them with
    ``Settings.from_env``); the rag package is put on its path.
    """
    env = dict(os.environ)
    if torch_threads:
        env["OMP_NUM_THREADS"] = str(torch_threads)
    env.update({"RAG_INDEX_DIR": str(Path(settings.index_dir).resolve()), "RAG_MODEL": settings.model,
                "RAG_CORPUS_DIR": str(Path(settings.corpus_dir).resolve()),
                "RAG_VECTOR_STORE": settings.vector_store, "RAG_FUSION": settings.fusion,
                "HF_HUB_OFFLINE": env.get("HF_HUB_OFFLINE", "1"), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "TOKENIZERS_PARALLELISM": "false"})
    for name, value in (("RAG_CACHE_DIR", settings.cache_dir), ("RAG_MILVUS_URI", settings.milvus_uri),
                        ("RAG_MILVUS_TOKEN", settings.milvus_token)):
        if value:
            env[name] = str(value)
    root = Path(__file__).resolve().parents[2]  # the folder holding the rag package
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env, root
