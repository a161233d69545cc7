"""rag.bench.milvus on a small set in real Milvus Lite: recall against FAISS exact, and the table."""

from __future__ import annotations

import pytest

pytest.importorskip("pymilvus", reason='the Milvus extra is not installed: pip install -e ".[milvus]"')

from rag.bench.milvus import bench_milvus, format_milvus  # noqa: E402


@pytest.mark.slow
def test_bench_milvus_small():
    result = bench_milvus(2000, n_queries=20)
    # Exact search in Milvus finds exactly FAISS's exact top 10.
    assert result["flat"]["sweep"][0]["recall@10"] == 1.0
    for kind in ("hnsw", "ivf"):
        r = result[kind]
        assert r["insert_rows_per_s"] > 0 and r["sweep"]
        recalls = [p["recall@10"] for p in r["sweep"]]
        assert all(0 <= x <= 1 for x in recalls) and max(recalls) >= 0.95
        knob = "ef" if kind == "hnsw" else "nprobe"
        cheapest = r["cheapest"]
        assert cheapest["recall@10"] >= 0.95
        assert all(p[knob] >= cheapest[knob] for p in r["sweep"] if p["recall@10"] >= 0.95)
    lines = format_milvus(result)
    assert lines[0].startswith("store") and any("HNSW" in line for line in lines)


@pytest.mark.slow
def test_bench_milvus_measures_the_kinds_asked_for():
    result = bench_milvus(1000, n_queries=10, kinds=("ivf",))
    assert "ivf" in result and "flat" not in result and "hnsw" not in result
    lines = format_milvus(result)
    assert any("IVF_FLAT" in line for line in lines) and not any("HNSW" in line for line in lines)


class _RetriedClient:
    """A client whose create_index fails as pymilvus's retry does after a build past the deadline."""

    def __init__(self, error: str, built: str) -> None:
        self.error, self.built = error, built

    def prepare_index_params(self):
        from pymilvus import MilvusClient

        return MilvusClient.prepare_index_params()

    def create_index(self, name, index):
        from pymilvus import MilvusException

        raise MilvusException(code=35, message=self.error)

    def describe_index(self, name, field):
        return {"index_type": self.built}


def test_an_index_built_by_a_retried_call_counts_only_if_it_is_the_one_asked_for():
    from pymilvus import MilvusException

    from rag.bench.milvus import create_index

    exists = "index already exists for field 'vector'; call drop_index first"
    create_index(_RetriedClient(exists, "HNSW"), "c", "HNSW", {"M": 16})  # the retry found our own index
    with pytest.raises(MilvusException):
        create_index(_RetriedClient(exists, "FLAT"), "c", "HNSW", {"M": 16})  # someone else's index
    with pytest.raises(MilvusException):
        create_index(_RetriedClient("collection not found", "HNSW"), "c", "HNSW", {"M": 16})
