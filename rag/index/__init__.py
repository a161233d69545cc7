"""The index on disk: the build, its manifest, and the vector and BM25 stores."""
