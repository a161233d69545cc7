"""Run the chat app: ``python app.py [--host H] [--port P] [--share] [--corpus DIR] [--index-dir DIR] [--model M]``.

Wiring only: settings from the environment and the flags, the pipeline loading in the background
(so the page is served at once, showing the first run's index build), the UI.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Arabic/English question answering over news articles.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: %(default)s)")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    parser.add_argument("--corpus", type=Path, help="folder of articles (default: $RAG_CORPUS_DIR or seeds)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: $RAG_INDEX_DIR or index)")
    parser.add_argument("--model", help="embedding model name or path (default: the bundled e5-small)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and the libraries' progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.captureWarnings(True)  # the libraries' Python warnings become log records (py.warnings)
    if not args.verbose:  # the libraries' bars and warnings (a tokenizer's "sequence length is longer than…")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        logging.getLogger("py.warnings").setLevel(logging.ERROR)
        for noisy in ("httpx", "gradio", "faiss.loader"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    from rag.app.loading import BackgroundPipeline
    from rag.app.ui import build_ui, launch_options
    from rag.config import Settings
    from rag.pipeline import Pipeline

    settings = Settings.from_env(corpus_dir=args.corpus, index_dir=args.index_dir, model=args.model)

    def load(on_progress):
        return Pipeline.load(settings, build_if_missing=True, progress=sys.stderr.isatty(), on_progress=on_progress)

    pipeline = BackgroundPipeline(settings, load).start()
    demo = build_ui(pipeline)
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"serving the chat on {url} (the model and index load in the background; Ctrl-C stops)", flush=True)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, quiet=not args.share,
                **launch_options(settings))


if __name__ == "__main__":
    main()
