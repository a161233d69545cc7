"""Ingestion: read article files into Documents and cut them into sentence-aligned Chunks."""
