"""Benchmark helpers against oracles (brute-force numpy search, hand-worked recall) and a small ANN run.

Goals are reported by ``rag bench``, never asserted here: these tests check the measuring, not the machine.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rag.bench.ann import bench_ann, clustered_vectors, perturb, pick_setting, recall_at_k
from rag.bench.ask import bench_questions
from rag.bench.common import meets, ratio
from rag.bench.run import format_bench


def test_ratio_and_meets() -> None:
    assert ratio(3.0, 2.0) == 1.5 and math.isnan(ratio(1.0, 0.0))
    assert meets(1.2, 1.5) is True and meets(1.6, 1.5) is False
    assert meets(0.96, 0.95, lower_is_better=False) is True
    assert meets(math.nan, 1.0) is None


def test_recall_at_k_hand_worked() -> None:
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    approx = np.array([[3, 2, 9], [-1, -1, -1]])
    assert recall_at_k(approx, exact, k=3) == pytest.approx(2 / 6)
    assert recall_at_k(exact, exact, k=3) == 1.0
    assert recall_at_k(np.array([[1, 2]]), np.array([[2, 3]]), k=2) == 0.5


def test_clustered_vectors_are_unit_deterministic_and_clustered() -> None:
    a = clustered_vectors(3000, 64, n_clusters=30, seed=3)
    assert a.shape == (3000, 64) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, clustered_vectors(3000, 64, n_clusters=30, seed=3))
    assert not np.array_equal(a, clustered_vectors(3000, 64, n_clusters=30, seed=4))
    # Neighbourhood structure: a point's nearest neighbour is far closer than a random point.
    sims = a[:200] @ a.T
    np.fill_diagonal(sims[:, :200], -1)
    nearest = sims.max(axis=1).mean()
    random_pair = float(np.mean(np.sum(a[:1000] * a[1000:2000], axis=1)))
    assert nearest > random_pair + 0.3


def test_perturb_keeps_unit_length_and_stays_close() -> None:
    x = clustered_vectors(100, 32, n_clusters=5)
    q = perturb(x, 0.1)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(x * q, axis=1)) > 0.95


def test_pick_setting() -> None:
    sweep = [{"recall@10": 0.90, "speedup": 50.0}, {"recall@10": 0.96, "speedup": 20.0},
             {"recall@10": 0.99, "speedup": 8.0}]
    assert pick_setting(sweep, 0.95) == sweep[1]
    assert pick_setting(sweep[:1], 0.95) == sweep[0]  # nothing reaches the goal: best recall
    assert pick_setting([], 0.95) is None


def test_bench_ann_small_matches_brute_force() -> None:
    lines: list[str] = []
    result = bench_ann(2000, dim=48, n_queries=40, progress=lines.append)
    assert result["n"] == 2000 and result["n_queries"] == 40 and lines
    assert result["flat"]["memory_mb"] > 0 and result["threads"]["search"] == 1
    assert result["structure"]["top1_cos"] > result["structure"]["random_pair_cos"]
    for kind in ("hnsw", "ivf"):
        r = result[kind]
        assert r["sweep"] and r["build_s"] >= 0 and r["memory_mb"] > 0
        assert all(0.0 <= s["recall@10"] <= 1.0 and s["speedup"] > 0 for s in r["sweep"])
        # The sweep goes on until recall@10 reaches 0.99, so at this size it gets there.
        assert r["sweep"][-1]["recall@10"] >= 0.99
        chosen = {k: v for k, v in r["chosen"].items() if not k.startswith("single_query")}
        assert chosen in r["sweep"] and r["chosen"]["single_query_ms"] > 0
    assert set(result["meets_goal"]) == {"hnsw", "ivf"}


def test_exact_search_oracle() -> None:
    """The exact baseline the recall is measured against agrees with brute-force numpy."""
    from rag.index.faiss_store import FaissStore

    data = clustered_vectors(1500, 32, n_clusters=15, seed=7)
    queries = perturb(data[:25], seed=8)
    _, ids = FaissStore.build(data, "flat").search(queries, 10)
    brute = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    assert recall_at_k(ids, brute, 10) == 1.0


def test_bench_questions_are_distinct_and_alternate() -> None:
    gold = Path(__file__).resolve().parents[2] / "seeds" / "gold_qa.jsonl"
    qs = bench_questions(gold, 22)
    assert len(qs) == 22 and len(set(qs)) == 22
    assert any("a" <= c.lower() <= "z" for c in qs[1])  # the second comes from the English questions


def test_format_bench_has_meets_goal_column() -> None:
    result = {
        "ask_over_embed": {"value": 1.1, "goal": 1.5, "meets_goal": True, "ask_p50_ms": 22.0, "embed_p50_ms": 20.0,
                           "stages_p50_ms": {"query_ms": 19.0, "retrieve_ms": 1.0, "answer_ms": 2.0},
                           "slowest_part": "answer_ms"},
        "reindex_unchanged": {"value": 0.2, "goal": 0.05, "meets_goal": False, "reindex_s": 0.5, "build_s": 2.5,
                              "embedded": 0, "parts_ms": {"model_fingerprint": 400.0},
                              "slowest_part": "model_fingerprint"},
        "startup_s": 7.5, "peak_rss_mb": 900.0, "bench_peak_rss_mb": 1200.0, "machine": {"cores": 2},
    }
    text = format_bench(result)
    header = text.splitlines()[0]
    assert "meets goal" in header
    assert any(line.startswith("ask_over_embed") and "yes" in line for line in text.splitlines())
    assert any(line.startswith("reindex_unchanged") and " no " in line for line in text.splitlines())


def test_format_bench_shows_the_cold_ask_and_its_ratio() -> None:
    cold = {"cold_ask_s": 4.0, "reference_s": 8.0, "cold_ask_over_reference": 0.5, "runs": 3}
    text = format_bench({"cold_ask": cold, "machine": {}})
    line = next(line for line in text.splitlines() if line.startswith("cold_ask_s"))
    assert "4.0" in line and "8.00 s" in line and "ratio 0.50" in line


@pytest.mark.slow
def test_cold_ask_runs_real_processes(seed_index) -> None:
    from rag.bench.cold_ask import bench_cold_ask

    settings, _ = seed_index
    r = bench_cold_ask(settings, "ما قيمة الصفقة؟", runs=1)
    assert r["runs"] == 1 and r["cold_ask_s"] > 0 and r["reference_s"] > 0
    # The ratio is of the unrounded times; the times are reported rounded.
    assert r["cold_ask_over_reference"] == pytest.approx(r["cold_ask_s"] / r["reference_s"], abs=0.002)


def test_a_child_process_sees_the_store_settings(tmp_path):
    """The start-up and cold-ask measures run fresh processes: they must open the index with its own store."""
    from rag.bench.common import child_env
    from rag.config import Settings

    settings = Settings(index_dir=tmp_path / "i", corpus_dir=tmp_path / "c", vector_store="milvus",
                        milvus_uri="http://127.0.0.1:19530", milvus_token="u:p", fusion="engine")
    env, root = child_env(settings, torch_threads=1)
    child = Settings.from_env(env)
    assert (child.vector_store, child.milvus_uri, child.milvus_token, child.fusion) == (
        "milvus", "http://127.0.0.1:19530", "u:p", "engine")
    assert child.index_dir == (tmp_path / "i").resolve() and env["OMP_NUM_THREADS"] == "1"
    assert (root / "rag" / "__init__.py").is_file()
