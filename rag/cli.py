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
        follow_symlinks=getattr(args, "follow_symlinks", None) or None,
    )


def _progress() -> bool:
    return sys.stderr.isatty()


def cmd_index(args: argparse.Namespace) -> int:
    from rag.index.build import build_index

    settings = _settings(args)
    report = build_index(settings, rebuild=args.rebuild, progress=_progress() and not args.json)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for s in report.skipped:
            print(f"skipped {s.path}: {s.reason}")
        for reason in report.rebuilt_because:
            print(f"rebuilt: {reason}")
        print(
            f"{report.documents} documents, {report.chunks} chunks "
            f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f} s "
            f"-> {settings.index_dir} [{report.model}, dim {report.dim}]"
        )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline
    from rag.retrieve.question import validate_question
    from rag.types import Answer

    settings = _settings(args)
    validate_question(args.question, settings.max_question_chars)  # fail before loading the model
    pipeline = Pipeline.load(settings, build_if_missing=True, progress=_progress())
    if args.json:
        print(json.dumps(pipeline.ask(args.question).to_dict(), ensure_ascii=False))
        return 0
    answer: Answer | None = None
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


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.eval.evaluate import evaluate
    from rag.eval.gold import check_sources, load_gold
    from rag.eval.report import compare_reports, format_comparison, summary_text, to_json, write_report
    from rag.ingest.load import load_corpus
    from rag.pipeline import Pipeline

    items = load_gold(args.gold)  # every line validated before the model loads
    old = _load_report(args.compare) if args.compare else None
    settings = _settings(args)
    documents, _ = load_corpus(settings.corpus_dir, follow_symlinks=settings.follow_symlinks)
    for warning in check_sources(
        items, [d.doc_id for d in documents], args.gold, allow_missing=args.allow_missing_sources
    ):
        print(f"warning: {warning}", file=sys.stderr)
    pipeline = Pipeline.load(settings, build_if_missing=True, progress=_progress() and not args.json)
    report = evaluate(pipeline, items, k=args.k, backend=args.backend, progress=_progress())
    if args.out:
        for path in write_report(report, args.out):
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    if old is not None:
        comparison = format_comparison(compare_reports(old, report))
        print(f"compared with {args.compare}:\n{comparison}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(to_json(report))
    else:
        print(summary_text(report))
    return 0


def _load_report(path: Path) -> dict:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise RagError(f"{path}: report not found; pass a report.json written by `rag eval --out DIR`") from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RagError(f"{path}: not a readable report.json ({e})") from e
    if not isinstance(report, dict) or "retrieval" not in report:
        raise RagError(f"{path}: not a report.json written by `rag eval` (no \"retrieval\" field)")
    return report


def cmd_bench(args: argparse.Namespace) -> int:
    from rag.bench.ann import ANN_DEFAULT_SIZE, ANN_LARGE_SIZE
    from rag.bench.run import format_bench, run_bench
    from rag.errors import ConfigError
    from rag.eval.report import to_json

    settings = _settings(args)
    if args.load:
        from rag.bench.load import bench_load, format_load

        result = bench_load(
            settings, gold_path=args.gold, clients=args.clients, seconds=args.seconds,
            long_clients=args.long_clients, long_seconds=args.long_seconds,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
        print(to_json(result) if args.json else format_load(result))
        return 0
    ann_size = args.ann_size or (ANN_LARGE_SIZE if args.large else ANN_DEFAULT_SIZE)
    if ann_size < 100:
        raise ConfigError(f"--ann-size {ann_size} is too small; use at least 100 vectors")
    result = run_bench(
        settings, gold_path=args.gold, ann_size=ann_size, n_questions=args.questions, repeat=args.repeat,
        torch_threads=args.torch_threads, progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(to_json(result) if args.json else format_bench(result))
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
        p.add_argument(
            "--model", help="sentence-transformers model name or path (default: bundled multilingual-e5-small)"
        )

    p = sub.add_parser("index", help="build or update the index from a folder of articles")
    p.add_argument("--corpus", type=Path, help="folder of .txt/.md articles (default: seeds/)")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything again")
    p.add_argument(
        "--follow-symlinks", action="store_true",
        help="read articles that are symbolic links (skipped by default: a link can point anywhere)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the counts as the last line")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask one question and print the answer with its sources")
    p.add_argument(
        "question", nargs="?",
        help='the question, in Arabic or English (one starting with "-" works too, or after --: rag ask -- "-...")',
    )
    p.add_argument("--k", type=int, help="passages to retrieve (default 5)")
    p.add_argument("--backend", choices=BACKENDS, help="answer backend (default extractive)")
    p.add_argument("--corpus", type=Path, help="corpus to index first if there is no index yet")
    common(p)
    p.add_argument("--json", action="store_true", help="print the answer object as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="run a gold Q&A file through the pipeline and report the metrics")
    p.add_argument("--gold", type=Path, required=True, help="gold questions, one JSON object per line")
    p.add_argument("--k", type=int, help="passages handed to the answer stage (default 5); retrieval is scored at 10")
    p.add_argument("--backend", choices=BACKENDS, help="answer backend (default extractive)")
    p.add_argument("--out", type=Path, help="folder for report.json, report.md and metrics.png")
    p.add_argument("--compare", type=Path, metavar="OLD_REPORT", help="an earlier report.json to compare with")
    p.add_argument(
        "--allow-missing-sources", action="store_true",
        help="warn (instead of stopping) when a gold line's sources name an article missing from the corpus",
    )
    p.add_argument("--corpus", type=Path, help="corpus to index first if there is no index yet")
    common(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object as the last line")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="measure speed against the embedding model, re-indexing, ANN and startup")
    p.add_argument("--large", action="store_true", help="ANN over 1,000,000 vectors instead of 100,000")
    p.add_argument("--ann-size", type=int, help="ANN vectors (overrides --large)")
    p.add_argument("--questions", type=int, default=20, help="timed asks (default 20)")
    p.add_argument("--repeat", type=int, default=3, help="build/encode runs; the fastest counts (default 3)")
    p.add_argument("--gold", type=Path, default=Path("seeds/gold_qa.jsonl"), help="where the timed questions come from")
    p.add_argument("--load", action="store_true",
                   help="instead: start the app on a loopback port and drive it with many chats at once")
    p.add_argument("--clients", type=int, default=32, help="--load: concurrent chats (default 32)")
    p.add_argument("--seconds", type=float, default=60, help="--load: duration in seconds (default 60)")
    p.add_argument("--long-clients", type=int, default=8, help="--load: chats of the memory run (default 8)")
    p.add_argument("--long-seconds", type=float, default=300,
                   help="--load: duration of the memory run that follows (default 300; 0 skips it)")
    p.add_argument("--torch-threads", type=int, help="model threads (default: torch's choice; 1 on a busy machine)")
    p.add_argument("--corpus", type=Path, help="corpus for the build measure (default: seeds/)")
    common(p)
    p.add_argument("--json", action="store_true", help="print the results as one JSON object as the last line")
    p.set_defaults(func=cmd_bench)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "ask":
        # A question that starts with "-" looks like an option to argparse: take the one unknown
        # argument as the question when none was given.
        if args.question is None and len(extra) == 1:
            args.question, extra = extra[0], []
        if args.question is None:
            parser.error('rag ask needs a question: rag ask "QUESTION" (or rag ask -- "-QUESTION")')
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
