"""Retrieval: the query stage (follow-ups, bridging), hybrid dense + BM25 retrieval and fusion."""
