"""The ``rag`` command line: index, ask, eval, bench. Wiring only; the work lives in the stages."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rag.config import BACKENDS, Settings
from rag.errors import RagError


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        corpus_dir=getattr(args, "corpus", None),
        index_dir=getattr(args, "index_dir", None),
        model=getattr(args, "model", None),
        backend=getattr(args, "backend", None),
        k=getattr(args, "k", None),
    )


def _progress() -> bool:
    return sys.stderr.isatty()


def cmd_index(args: argparse.Namespace) -> int:
    from rag.index import build_index

    settings = _settings(args)
    report = build_index(settings, rebuild=args.rebuild, progress=_progress() and not args.json)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for s in report.skipped:
            print(f"skipped {s.path}: {s.reason}")
        print(
            f"{report.documents} documents, {report.chunks} chunks "
            f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f} s "
            f"-> {settings.index_dir} [{report.model}, dim {report.dim}]"
        )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline, validate_question

    settings = _settings(args)
    validate_question(args.question, settings.max_question_chars)  # fail before loading the model
    pipeline = Pipeline.load(settings, build_if_missing=True, progress=_progress())
    if args.json:
        answer = pipeline.ask(args.question)
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return 0
    answer = None
    streamed = []
    for item in pipeline.ask_stream(args.question):
        if isinstance(item, str):
            streamed.append(item)
            print(item, end="", flush=True)
        else:
            answer = item
    assert answer is not None
    if "".join(streamed) != answer.text:  # the backend revised what it streamed
        print("\n---\n" + answer.text, end="")
    print("\n")
    for c in answer.citations:
        print(f"[{c.n}] {c.title} ({c.doc_id}, chars {c.start}-{c.end}, score {c.score:.3f})")
    if answer.dropped_quotes:
        print(f"(removed {len(answer.dropped_quotes)} quote(s) not found in the cited passage)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Arabic/English question answering over news articles (hybrid FAISS + BM25 retrieval, "
        "answers that quote the articles verbatim).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--index-dir", type=Path, help="index folder (default: index/ or $RAG_INDEX_DIR)")
        p.add_argument("--model", help="sentence-transformers model name or path (default: bundled multilingual-e5-small)")

    p = sub.add_parser("index", help="build or update the index from a folder of articles")
    p.add_argument("--corpus", type=Path, help="folder of .txt/.md articles (default: seeds/)")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything again")
    p.add_argument("--json", action="store_true", help="print one JSON object with the counts as the last line")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask one question and print the answer with its sources")
    p.add_argument("question", help="the question, in Arabic or English")
    p.add_argument("--k", type=int, help="passages to retrieve (default 5)")
    p.add_argument("--backend", choices=BACKENDS, help="answer backend (default extractive)")
    p.add_argument("--corpus", type=Path, help="corpus to index first if there is no index yet")
    common(p)
    p.add_argument("--json", action="store_true", help="print the answer object as JSON")
    p.set_defaults(func=cmd_ask)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return args.func(args)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
