"""Text analysis shared by indexing and querying: normalization, the lexical analyzer, transliteration."""
