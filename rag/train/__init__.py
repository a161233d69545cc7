"""Training of the learned parts of the answer stage (``rag train ...``); inference lives in ``rag.answer``."""
