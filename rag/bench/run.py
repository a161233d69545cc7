"""Performance benchmark: cost ratios of the app against the embedding model it cannot avoid, and ANN scaling.

Every figure is a ratio against a limit (a goal), measured in one run and reported, never asserted:

- ``ask_over_embed``: a warm extractive ask, p50, over embedding the question alone, p50 (goal <= 1.5).
- ``reader_over_embed``: the reading model's read of one question's candidate sentences, p50, over embedding the
  question alone, p50 (goal <= 3).
- ``build_over_encode``: a cold build of the seed index over encoding its chunk texts with the same model
  (goal <= 1.2). The build also embeds every unique sentence (for quote selection), so
  ``build_over_encode_all`` divides by encoding chunks *and* sentences: the overhead that is not the model.
- ``reindex_unchanged``: re-indexing an unchanged corpus over the cold build (goal <= 0.05).
- ``ann``: FAISS HNSW and IVF against exact search on clustered synthetic vectors (see ``clustered_vectors``):
  recall@10, speed-up and memory (goal recall@10 >= 0.95 at >= 10x speed-up, at 1M vectors).
- ``startup_s`` / ``peak_rss_mb``: a fresh process that loads the index and model and answers one question.
- ``cold_ask``: a fresh ``rag ask --json`` process against ``import torch, sentence_transformers``
  plus loading the model (the floor of any sentence-transformers program), as a ratio.

Library code reports progress through a ``progress`` callback; the CLI prints it to stderr.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings

if TYPE_CHECKING:
    pass
from rag.bench.ann import ANN_DEFAULT_SIZE, bench_ann
from rag.bench.ask import bench_ask, bench_questions, bench_reader
from rag.bench.build import bench_build
from rag.bench.cold_ask import bench_cold_ask
from rag.bench.common import Progress, machine_info, quiet
from rag.bench.startup import bench_startup

log = logging.getLogger(__name__)


def run_bench(
    settings: Settings,
    *,
    gold_path: Path,
    ann_size: int = ANN_DEFAULT_SIZE,
    n_questions: int = 20,
    repeat: int = 3,
    torch_threads: int | None = None,
    scaling_sizes: tuple[int, ...] = (),
    arcd: Path | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Run every measure once and return the ``rag bench --json`` object.

    Example: ``run_bench(settings, gold_path=Path("seeds/gold_qa.jsonl"), ann_size=2000)["ask_over_embed"]``

    Args:
        settings: Index, corpus and model settings; the ask is measured on ``settings.index_dir``
            (built first if missing) and the cold build goes to a temporary folder.
        gold_path: Gold file to take the timed questions from.
        ann_size: Synthetic vectors for the ANN measure.
        n_questions: Timed asks (two more warm up).
        repeat: Each build/encode measure is the fastest of this many runs.
        torch_threads: Threads for the model (default: torch's own choice, one per core). On a machine
            that other work keeps busy, torch's spinning worker threads can make a forward pass many
            times slower; 1 thread avoids that.
        scaling_sizes: Article counts for the build-scaling measure (``rag.bench.scaling``); empty skips it.
        arcd: ARCD's ``arcd.json`` for the scaling corpora.
        progress: Called with a line of progress text.

    With ``settings.vector_store == "milvus"`` the ANN measure also runs Milvus (``rag.bench.milvus``)
    on the same vectors, beside FAISS.
    """
    from rag.pipeline import Pipeline

    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    result: dict[str, Any] = {"machine": machine_info()}
    progress(f"loading the pipeline ({settings.index_dir})")
    t = time.perf_counter()
    pipeline = Pipeline.load(settings, build_if_missing=True)
    result["load_in_process_s"] = round(time.perf_counter() - t, 3)

    questions = bench_questions(gold_path, n_questions + 2)
    progress(f"ask: {len(questions) - 2} timed extractive asks after 2 warm-up asks")
    result["ask_over_embed"] = bench_ask(pipeline, questions)
    reader = bench_reader(pipeline, questions)
    if reader is not None:
        progress(f"reader: {reader['n_questions']} timed reads of {reader['sentences']} sentences")
        result["reader_over_embed"] = reader

    progress(f"build: cold build, encode and no-op re-index of {settings.corpus_dir} (best of {repeat})")
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        result.update(bench_build(settings, pipeline.embedder, Path(tmp) / "index", repeat))

    if scaling_sizes and arcd is not None:
        from rag.bench.scaling import bench_scaling

        with tempfile.TemporaryDirectory(prefix="rag-bench-scaling-") as tmp:
            result["scaling"] = bench_scaling(settings, pipeline.embedder, arcd, Path(tmp), scaling_sizes, progress)
    del pipeline
    if settings.vector_store == "milvus":  # a Milvus Lite file opens in one process at a time: let the children in
        from rag.index.milvus_store import disconnect

        disconnect()

    progress("startup: a fresh process loads the index and answers one question")
    startup = bench_startup(settings, questions[-1], torch_threads=torch_threads)
    result["startup_s"] = startup["startup_s"]
    result["startup"] = startup
    result["peak_rss_mb"] = startup["peak_rss_mb"]

    progress("cold ask: fresh `rag ask --json` processes against importing sentence-transformers + loading the model")
    result["cold_ask"] = bench_cold_ask(settings, questions[-1], runs=repeat, torch_threads=torch_threads)

    result["ann"] = bench_ann(ann_size, progress=progress)
    if settings.vector_store == "milvus":
        from rag.bench.milvus import bench_milvus

        result["milvus"] = bench_milvus(ann_size, uri=settings.milvus_uri, token=settings.milvus_token,
                                        progress=progress)
    result["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return result


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_bench(result: dict[str, Any]) -> str:
    """The readable table ``rag bench`` prints without ``--json``, with a "meets goal" column.

    Example: ``"ask_over_embed" in format_bench(result)``
    """
    rows = []
    for name in ("ask_over_embed", "reader_over_embed", "build_over_encode", "build_over_encode_all",
                 "reindex_unchanged"):
        r = result.get(name)
        if r:
            rows.append([name, f"{r['value']:.3g}", f"<= {r['goal']}", _fmt(r["meets_goal"]), _detail(name, r)])
    ann = result.get("ann") or {}
    for kind in ("hnsw", "ivf"):
        r = ann.get(kind)
        if not r or not r.get("chosen"):
            continue
        c = r["chosen"]
        knob = "efSearch" if kind == "hnsw" else "nprobe"
        rows.append([
            f"ann {kind} @ {ann['n']:,}", f"{c['recall@10']:.3f} @ {c['speedup']}x",
            f">= {ann['goal']['recall@10']} @ >= {ann['goal']['speedup']:.0f}x", _fmt(r["meets_goal"]),
            f"{knob}={c[knob]}, {', '.join(f'{k}={v}' for k, v in r['params'].items())}, "
            f"one query at a time {c.get('single_query_speedup')}x, build {r['build_s']} s, "
            f"{r['memory_mb']} MB (flat {ann['flat']['memory_mb']} MB)",
        ])
    rows.append(["startup_s", _fmt(result.get("startup_s")), "", "", _startup_detail(result.get("startup") or {})])
    cold = result.get("cold_ask")
    if cold:
        rows.append(["cold_ask_s", _fmt(cold["cold_ask_s"]), "", "",
                     f"fresh `rag ask --json`, median of {cold['runs']}; reference (import torch, "
                     f"sentence_transformers + model load) {cold['reference_s']:.2f} s; "
                     f"ratio {cold['cold_ask_over_reference']:.2f}"])
    rows.append(["peak_rss_mb", _fmt(result.get("peak_rss_mb"), 0), "", "",
                 f"app process; this bench process peaked at {_fmt(result.get('bench_peak_rss_mb'), 0)} MB"])
    header = ["measure", "value", "goal", "meets goal", "detail"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    m = result.get("machine") or {}
    lines.append("")
    lines.append(f"machine: {m.get('cores')} cores ({m.get('cpu', '?')}), {m.get('memory_gb', '?')} GB, "
                 f"torch {m.get('torch', '?')} ({m.get('torch_threads', '?')} threads), faiss {m.get('faiss')}, "
                 f"load average {m.get('load_avg_1m', '?')} at start, {m.get('load_avg_1m_end', '?')} at the end")
    if ann:
        s = ann["structure"]
        lines.append(f"ann data: {ann['generator']}; mean cosine to nearest {s['top1_cos']}, "
                     f"to 10th {s['top10_cos']}, random pair {s['random_pair_cos']}; "
                     f"search single-threaded over {ann['n_queries']} queries, goal applies at "
                     f"{ann['goal']['at_n']:,}")
    if result.get("milvus"):
        from rag.bench.milvus import format_milvus

        lines += ["", "Milvus beside FAISS (same vectors, same queries):", *format_milvus(result["milvus"], ann)]
    if result.get("scaling"):
        from rag.bench.scaling import format_scaling

        lines += ["", "Build cost against corpus size:", *format_scaling(result["scaling"])]
    b = result.get("build_over_encode")
    if b:
        lines.append(f"build: {b['chunks']} chunks + {b['sentences']} sentences + {b['vocabulary']} vocabulary "
                     f"words embedded; {b['note']}")
    return "\n".join(lines)


def _detail(name: str, r: dict[str, Any]) -> str:
    if name == "ask_over_embed":
        stages = ", ".join(f"{k.removesuffix('_ms')} {v:.1f}" for k, v in r["stages_p50_ms"].items())
        langs = ", ".join(f"{k} {v:.1f}" for k, v in (r.get("ask_p50_ms_by_language") or {}).items())
        return (f"ask p50 {r['ask_p50_ms']:.1f} ms ({langs}) / embed p50 {r['embed_p50_ms']:.1f} ms; "
                f"stages p50 ms: {stages}; slowest stage: {r['slowest_part']} "
                "(retrieve includes lexical_query, measured on its own)")
    if name == "reader_over_embed":
        return (f"read {r['sentences']} sentences p50 {r['read_p50_ms']:.1f} ms / "
                f"embed p50 {r['embed_p50_ms']:.1f} ms; "
                f"{r['reader']} (included in ask_over_embed's answer stage)")
    if name == "build_over_encode":
        return (f"build {r['build_s']:.2f} s / encode {r['chunks']} chunks {r['encode_chunks_s']:.2f} s; "
                f"slowest overhead: {r['slowest_overhead']} ({r['parts_ms'][r['slowest_overhead']]:.0f} ms)")
    if name == "build_over_encode_all":
        parts = ", ".join(f"{k} {v / 1000:.2f} s" for k, v in (r.get("encode_parts_ms") or {}).items())
        return f"build {r['build_s']:.2f} s / encode chunks+sentences+vocabulary {r['encode_all_s']:.2f} s ({parts})"
    return (f"re-index {r['reindex_s'] * 1000:.1f} ms ({r['embedded']} embedded) / build {r['build_s']:.2f} s; "
            f"slowest part: {r['slowest_part']} ({r['parts_ms'][r['slowest_part']]:.1f} ms)")


def _startup_detail(s: dict[str, Any]) -> str:
    if not s:
        return ""
    p = s["phases_s"]
    return (f"interpreter {s['interpreter_s']:.2f} s, imports {p['import_s']:.2f} s, load {p['load_s']:.2f} s, "
            f"first answer {p['first_answer_s']:.2f} s")
