"""Embedding: the sentence-transformers embedder and the bundled multilingual model."""
