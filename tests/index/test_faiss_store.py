"""rag.index.faiss_store: FAISS against brute-force numpy."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.index.faiss_store import FaissStore


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The oracle: exact inner-product top ``k`` per query row."""
    scores = q @ x.T
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids


@pytest.fixture(scope="module")
def random_set():
    rng = np.random.default_rng(0)
    return unit_rows(rng.standard_normal((1000, 64))), unit_rows(rng.standard_normal((20, 64)))


@pytest.fixture(scope="module")
def clustered_set():
    """About 5k vectors in 50 clusters, and queries drawn near the data (the realistic case for ANN)."""
    rng = np.random.default_rng(1)
    dim, n_clusters, per = 64, 50, 100
    centers = unit_rows(rng.standard_normal((n_clusters, dim)))
    # Per-dimension noise 0.1 is a spread of about 0.8 around each unit-norm center: clusters overlap
    # their neighbours but exist (with no structure at all, IVF's probe of 16 of 128 lists must miss).
    x = unit_rows(np.repeat(centers, per, axis=0) + 0.1 * rng.standard_normal((n_clusters * per, dim)))
    picks = rng.choice(len(x), 100, replace=False)
    q = unit_rows(x[picks] + 0.05 * rng.standard_normal((100, dim)))
    return x, q


def recall_at(ids: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(ids, truth, strict=True)]))


def test_flat_equals_brute_force(random_set):
    x, q = random_set
    store = FaissStore.build(x, "flat")
    assert store.size == len(x) and store.kind == "flat"
    scores, ids = store.search(q, 10)
    want_scores, want_ids = brute_force(x, q, 10)
    assert ids.shape == (len(q), 10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-5)


def test_flat_single_query_vector(random_set):
    x, q = random_set
    store = FaissStore.build(x, "flat")
    scores, ids = store.search(q[0], 5)
    assert ids.shape == (1, 5)
    np.testing.assert_array_equal(ids[0], brute_force(x, q[:1], 5)[1][0])


def test_k_larger_than_the_store_returns_every_vector(random_set):
    x, q = random_set
    store = FaissStore.build(x[:7], "flat")
    scores, ids = store.search(q[:3], 50)
    assert ids.shape == (3, 7)
    np.testing.assert_array_equal(ids, brute_force(x[:7], q[:3], 7)[1])


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_recall_at_10_on_clustered_vectors(clustered_set, kind):
    x, q = clustered_set
    store = FaissStore.build(x, kind)
    assert store.size == len(x) and store.kind == kind
    scores, ids = store.search(q, 10)
    _, truth = brute_force(x, q, 10)
    assert recall_at(ids, truth) >= 0.9
    # Scores are true inner products of the returned rows.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", q, x[ids]), atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_save_load_round_trip(tmp_path, clustered_set, kind):
    x, q = clustered_set
    store = FaissStore.build(x[:2000], kind)
    path = tmp_path / f"{kind}.index"
    store.save(path)
    loaded = FaissStore.load(path, kind)
    assert loaded.kind == kind and loaded.size == 2000
    before, after = store.search(q, 10), loaded.search(q, 10)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_empty_store_search_returns_empty_arrays(kind):
    store = FaissStore.build(np.zeros((0, 16), np.float32), kind)
    assert store.size == 0
    scores, ids = store.search(np.ones((2, 16), np.float32), 5)
    assert scores.shape == (2, 0) and ids.shape == (2, 0)


def test_empty_flat_store_save_load(tmp_path):
    store = FaissStore.build(np.zeros((0, 16), np.float32), "flat")
    store.save(tmp_path / "empty.index")
    loaded = FaissStore.load(tmp_path / "empty.index", "flat")
    assert loaded.size == 0
    assert loaded.search(np.ones(16, np.float32), 3)[1].shape == (1, 0)


def test_tiny_ivf_store_still_finds_the_nearest(random_set):
    x, q = random_set
    store = FaissStore.build(x[:5], "ivf")
    _, ids = store.search(q[:4], 5)
    np.testing.assert_array_equal(ids, brute_force(x[:5], q[:4], 5)[1])


def test_float64_input_is_accepted(random_set):
    x, q = random_set
    store = FaissStore.build(x.astype(np.float64), "flat")
    _, ids = store.search(q.astype(np.float64), 3)
    np.testing.assert_array_equal(ids, brute_force(x, q, 3)[1])


def test_unknown_kind_names_the_valid_ones():
    with pytest.raises(ConfigError, match="'annoy'.*flat, hnsw, ivf"):
        FaissStore.build(np.zeros((1, 4), np.float32), "annoy")
