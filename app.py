"""Run the chat app: ``python app.py [--host H] [--port P] [--share] [--corpus DIR] [--index-dir DIR] [--model M]``.

Wiring only: settings from the environment and the flags, the pipeline, the UI.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rag.app.ui import build_ui, launch_options
from rag.config import Settings
from rag.pipeline import Pipeline


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Arabic/English question answering over news articles.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: %(default)s)")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    parser.add_argument("--corpus", type=Path, help="folder of articles (default: $RAG_CORPUS_DIR or seeds)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: $RAG_INDEX_DIR or index)")
    parser.add_argument("--model", help="embedding model name or path (default: the bundled e5-small)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(corpus_dir=args.corpus, index_dir=args.index_dir, model=args.model)
    pipeline = Pipeline.load(settings, build_if_missing=True, progress=True)
    demo = build_ui(pipeline)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_options(settings))


if __name__ == "__main__":
    main()
