"""The ``rag`` command line: index, ask, chat, eval, bench, feedback. Wiring only; the work lives in the stages.

Each command imports only what it needs, so ``rag --help`` and bad arguments answer at once and
``rag ask`` pays for the model's libraries only when it is about to use them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

from rag.config import BACKENDS, FUSIONS, Settings
from rag.errors import ConfigError, RagError
from rag.index.vector_store import STORES


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        corpus_dir=getattr(args, "corpus", None) or _indexed_corpus(getattr(args, "index_dir", None)),
        index_dir=getattr(args, "index_dir", None),
        model=getattr(args, "model", None),
        backend=getattr(args, "backend", None),
        k=getattr(args, "k", None),
        vector_store=getattr(args, "store", None),
        fusion=getattr(args, "fusion", None),
        milvus_uri=getattr(args, "milvus_uri", None),
        follow_symlinks=getattr(args, "follow_symlinks", None) or None,
    )


def _indexed_corpus(index_dir: Path | None) -> Path | None:
    """The corpus an existing index was built from, when neither ``--corpus`` nor ``$RAG_CORPUS_DIR`` says.

    Without it, ``rag eval --index-dir other/`` would bring ``other/`` up to date with the default corpus.
    """
    if os.environ.get("RAG_CORPUS_DIR"):
        return None
    recorded = _manifest(index_dir).get("corpus_dir")
    return Path(recorded) if recorded and Path(recorded).is_dir() else None


def _manifest(index_dir: Path | None) -> dict:
    from rag.index.manifest import read_manifest

    folder = Path(index_dir or os.environ.get("RAG_INDEX_DIR") or "index")
    try:
        return read_manifest(folder) if (folder / "CURRENT").is_file() else {}
    except RagError:
        return {}


def _keep_as_built(args: argparse.Namespace) -> bool:
    """Whether to use an existing index as it is: no corpus was named, and the index does not record its own
    (an index built before manifests recorded it), so the default corpus must not replace it."""
    if getattr(args, "corpus", None) or os.environ.get("RAG_CORPUS_DIR"):
        return False
    manifest = _manifest(getattr(args, "index_dir", None))
    return bool(manifest) and not manifest.get("corpus_dir")


def _progress() -> bool:
    return sys.stderr.isatty()


def _announce_build(settings: Settings):
    """A build callback that says once, on stderr, that (and why) the index is being built."""
    said = False

    def on_progress(p) -> None:
        nonlocal said
        if not said and p.stage == "passages":
            said = True
            print(
                f"building the index for {p.documents} article(s) from {settings.corpus_dir} "
                f"into {settings.index_dir} (once; later runs reuse it)…",
                file=sys.stderr, flush=True,
            )

    return on_progress


def _load_pipeline(settings: Settings, *, quiet: bool = False, keep: bool = False):
    """The pipeline over ``settings``'s index, brought up to date with its corpus first unless ``keep``."""
    from rag.pipeline import Pipeline

    return Pipeline.load(
        settings, build_if_missing=not keep, progress=_progress() and not quiet,
        on_progress=None if quiet else _announce_build(settings),
    )


def cmd_index(args: argparse.Namespace) -> int:
    from rag.index.build import build_index

    settings = _settings(args)
    report = build_index(
        settings, rebuild=args.rebuild, progress=_progress() and not args.json,
        on_progress=None if args.json else _announce_build(settings),
    )
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for s in report.skipped:
            print(f"skipped {s.path}: {s.reason}")
        for reason in report.rebuilt_because:
            print(f"rebuilt: {reason}")
        for note in report.repaired:
            print(f"repaired: {note}")
        print(
            f"{report.documents} documents, {report.chunks} chunks "
            f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f} s "
            f"-> {settings.index_dir} [{report.model}, dim {report.dim}]"
        )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    if args.question is None:
        return cmd_chat(args)
    from rag.retrieve.question import validate_question

    settings = _settings(args)
    validate_question(args.question, settings.max_question_chars)  # fail before loading the model
    pipeline = _load_pipeline(settings, quiet=args.json, keep=_keep_as_built(args))
    if args.json:
        answer = pipeline.ask(args.question, doc_ids=args.doc, since=args.since, until=args.until)
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return 0
    _print_answer(pipeline.ask_stream(args.question, doc_ids=args.doc, since=args.since, until=args.until))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Questions from the terminal (a REPL with history) or from a pipe (one per line), one model load."""
    from rag.app.repl import ChatSession, run_pipe, run_repl
    from rag.config import default_cache_dir

    settings = _settings(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print("loading the model and the index…", file=sys.stderr, flush=True)
    pipeline = _load_pipeline(settings, quiet=not interactive and args.json, keep=_keep_as_built(args))
    session = ChatSession(pipeline, k=args.k, backend=args.backend, as_json=args.json)
    if interactive:
        return run_repl(session, _print_answer, history_file=default_cache_dir() / "chat_history")
    return run_pipe(session, sys.stdin, sys.stdout, _print_answer)


def _print_answer(stream) -> object:
    """Print a streamed answer, then its sources; return the final Answer."""
    from rag.types import Answer

    answer: Answer | None = None
    streamed = []
    for item in stream:
        if isinstance(item, str):
            streamed.append(item)
            print(item, end="", flush=True)
        else:
            answer = item
    assert answer is not None
    if "".join(streamed) != answer.text:  # the backend revised what it streamed
        print("\n---\n" + answer.text, end="")
    print("\n")
    if answer.resolved_question:
        print(f"({'understood as' if answer.language == 'en' else 'فُهم السؤال على أنه'}: {answer.resolved_question})\n")
    short = None if answer.abstained else answer.short_answer
    if short is not None:
        shown = short.english or (f"«{short.text}» (quoted in Arabic)" if answer.language == "en" else short.text)
        print(f"{'Short answer' if answer.language == 'en' else 'الإجابة المختصرة'}: {shown}\n")
    _print_sources(answer)
    return answer


def _print_sources(answer) -> None:
    for c in answer.citations:
        print(f"[{c.n}] {c.title} ({c.doc_id}, chars {c.start}-{c.end}, score {c.score:.3f})")
    if answer.dropped_quotes:
        print(f"(removed {len(answer.dropped_quotes)} quote(s) not found in the cited passage)")


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.eval.evaluate import evaluate
    from rag.eval.gold import check_sources, load_gold
    from rag.eval.report import compare_reports, format_comparison, summary_text, to_json, write_report
    from rag.ingest.load import load_corpus

    items = load_gold(args.gold)  # every line validated before the model loads
    old = _load_report(args.compare) if args.compare else None
    settings = _settings(args)
    documents, _ = load_corpus(settings.corpus_dir, follow_symlinks=settings.follow_symlinks)
    for warning in check_sources(
        items, [d.doc_id for d in documents], args.gold, allow_missing=args.allow_missing_sources
    ):
        print(f"warning: {warning}", file=sys.stderr)
    pipeline = _load_pipeline(settings, quiet=args.json, keep=_keep_as_built(args))
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


def cmd_calibrate(args: argparse.Namespace) -> int:
    from rag.answer.refusal import DEFAULT_L2, parse_budget
    from rag.eval.calibrate import GoldSet, calibrate
    from rag.eval.gold import load_gold
    from rag.index.manifest import live_build
    from rag.profile import PROFILE_FILE, Profile

    try:
        budget = parse_budget(args.max_answerable_refused)
    except ValueError as e:
        raise ConfigError(f"rag calibrate --max-answerable-refused: {e}") from e
    target = _settings(args)
    pairs = []
    for values in args.gold:
        if len(values) > 2:
            raise ConfigError(f"--gold takes a gold file and at most one index folder, not {len(values)} values")
        gold, index_dir = Path(values[0]), (Path(values[1]) if len(values) == 2 else None)
        pairs.append((gold, load_gold(gold), index_dir))  # every file validated before a model loads
    golds = []
    for gold, items, index_dir in pairs:
        settings = target if index_dir is None else Settings.from_env(
            index_dir=index_dir, corpus_dir=_indexed_corpus(index_dir), model=args.model)
        keep = _keep_as_built(argparse.Namespace(index_dir=index_dir or args.index_dir))
        golds.append(GoldSet(gold, items, _load_pipeline(settings, quiet=True, keep=keep)))
    try:
        fitted = calibrate(golds, folds=args.folds, l2=args.l2 or DEFAULT_L2, budget=budget,
                           progress=_progress() and not args.json)
    except ValueError as e:
        raise ConfigError(f"rag calibrate: {e}") from e
    model, cv = fitted.refusal, fitted.refusal_cv
    if args.out:
        args.out.write_text(json.dumps(model.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    span = fitted.span.to_dict() if fitted.span is not None else None
    if args.span_out and span is not None:
        args.span_out.write_text(json.dumps(span, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if not args.no_save:  # profile.json, and the build's calibrated copy that `rag index` restores it from
        build = live_build(target.index_dir)
        profile = Profile.load(build / PROFILE_FILE)
        profile.with_(refusal=model, span=fitted.span, weights=fitted.weights,
                      calibrated_on=tuple(str(g.path) for g in golds)).save_in_build(build)
    if args.json:
        print(json.dumps({"model": model.to_dict(), "cross_validated": cv, "span_model": span,
                          "span_cross_validated": fitted.span_cv, "quote_weights": asdict(fitted.weights),
                          "quote_weights_cross_validated": fitted.weights_cv}, ensure_ascii=False))
        return 0

    def line(name: str, block: dict) -> str:
        def share(v):
            return "-" if v is None else f"{v:.3f}"
        return (f"  {name:<40} unanswerable refused {share(block['unanswerable_refused'])} "
                f"(n={block['n_unanswerable']}), answerable refused {share(block['answerable_refused'])} "
                f"(n={block['n_answerable']})")

    wcv = fitted.weights_cv
    if "error" in wcv:
        print(f"quote weights not fitted ({wcv['error']}); those in force stay")
    else:
        shares = wcv["first_quote_holds"]
        print(f"quote weights chosen on {wcv['questions']} answerable questions (coverage {wcv['chosen']['coverage']}, "
              f"cue {wcv['chosen']['cue']}, rank {wcv['chosen']['rank']}); first quote holds the answer, "
              f"{wcv['folds']}-fold cross-validated, chosen / in force: "
              + ", ".join(f"{src} {shares['chosen_cross_validated'][src]:.3f} / {shares['current'][src]:.3f}"
                          for src in shares["current"])
              + ("; the chosen weights are used" if wcv["used"] == "chosen" else "; those in force stay"))
    print(f"refusal model fitted on {sum(len(g.items) for g in golds)} questions; "
          f"{cv['folds']}-fold cross-validated (folds by article):")
    print(line("all", cv))
    for lang, block in cv["by_language"].items():
        print(line(f"questions in {lang}", block))
    for src, block in cv["by_source"].items():
        print(line(src, block))
    print("weights (standardized): " + ", ".join(f"{f} {c:+.2f}" for f, c in zip(model.features, model.coef,
                                                                                 strict=True))
          + "; answer when p >= " + ", ".join(f"{t} ({lang})" for lang, t in model.threshold.items()))
    span_cv = fitted.span_cv
    if fitted.span is None:
        print(f"span model not fitted ({span_cv['error']}); the shipped one stays in force")
    else:
        print(f"span model fitted on {span_cv['examples']} short-answer quotes; {span_cv['folds']}-fold "
              f"cross-validated token F1 {span_cv['f1']:.3f} (the rule alone {span_cv['rule_f1']:.3f}; best span "
              f"in the quotes {span_cv['upper_bound']:.3f})")
    if not args.no_save:
        print(f"saved in {live_build(target.index_dir) / PROFILE_FILE}")
    if args.out:
        print(f"wrote {args.out}")
    if args.span_out and span is not None:
        print(f"wrote {args.span_out}")
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


def cmd_gold_import(args: argparse.Namespace) -> int:
    from rag.eval.squad import import_squad, parallel_questions, read_squad, write_import

    articles = read_squad(args.file)
    parallel = parallel_questions(read_squad(args.questions_from)) if args.questions_from else None
    try:
        result = import_squad(articles, part=args.articles, hold_out=args.hold_out_articles, seed=args.seed,
                              parallel=parallel, parallel_lang=args.lang)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    write_import(result, args.corpus_out, args.gold_out)
    counts = result.counts()
    if args.json:
        print(json.dumps(counts, ensure_ascii=False))
    else:
        langs = ", ".join(f"{n} {lang}" for lang, n in counts["by_language"].items())
        kinds = counts["unanswerable_by_kind"]
        merged = (f"; {counts['merged_articles']} repeated entries and {counts['merged_paragraphs']} repeated "
                  "paragraphs merged" if counts["merged_articles"] or counts["merged_paragraphs"] else "")
        print(
            f"{counts['articles']} articles -> {args.corpus_out} ({counts['held_out_articles']} held out); "
            f"{counts['questions']} questions ({langs}; {counts['answerable']} answerable, "
            f"{counts['unanswerable']} unanswerable: {kinds['article']} of held-out articles, "
            f"{kinds['paragraph']} over their paragraph) -> {args.gold_out}; {counts['skipped']} skipped{merged}"
        )
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    import torch

    from rag.answer.reader import ReaderConfig
    from rag.embed.bundled import load_sentence_transformer
    from rag.train.reader import TrainConfig, parse_train_spec, train_reader

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible to torch here; use --device cpu or auto")
    if args.threads:
        torch.set_num_threads(args.threads)
    train = [(str(p), w) for p, w in map(parse_train_spec, args.train)]
    for path, _ in train + ([(args.valid, 0.0)] if args.valid else []):
        if not Path(path).is_file():
            raise ConfigError(f"training file {path} does not exist")
    cfg = TrainConfig(
        train=train, valid=args.valid, negatives=args.negatives, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, answer_weight=args.answer_weight, seed=args.seed, max_examples=args.max_examples,
        max_steps=args.max_steps,
        valid_questions=args.valid_questions,
        device=device, reader=ReaderConfig(split=args.split, max_len=args.max_len),
    )
    settings = Settings.from_env()
    model = load_sentence_transformer(settings.model, settings.model_cache)

    def on_epoch(epoch: int, figures: dict) -> None:
        print(f"epoch {epoch}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), file=sys.stderr, flush=True)

    command = "rag train reader " + " ".join(sys.argv[3:] if sys.argv[1:3] == ["train", "reader"] else [])
    card = train_reader(model[0].auto_model, model.tokenizer, cfg, args.out, args.work, resume=not args.no_resume,
                        progress=_progress() or args.progress, on_epoch=on_epoch, command=command)
    print(json.dumps(card, ensure_ascii=False, indent=None if args.json else 2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rag.bench.ann import ANN_DEFAULT_SIZE, ANN_LARGE_SIZE
    from rag.bench.run import format_bench, run_bench
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
    try:
        sizes = tuple(int(x) for x in args.scaling_sizes.split(",") if x.strip() and x.strip() != "none")
    except ValueError as e:
        raise ConfigError(f"--scaling-sizes {args.scaling_sizes!r} is not a comma-separated list of counts") from e
    arcd = args.arcd if sizes and args.arcd.is_file() else None
    if sizes and arcd is None:
        print(f"note: {args.arcd} not found; the build-scaling measure is skipped", file=sys.stderr)
    result = run_bench(
        settings, gold_path=args.gold, ann_size=ann_size, n_questions=args.questions, repeat=args.repeat,
        torch_threads=args.torch_threads, scaling_sizes=sizes, arcd=arcd,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(to_json(result) if args.json else format_bench(result))
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from rag.app.feedback import export_gold

    settings = _settings(args)
    path = args.feedback or settings.resolved_feedback_path
    written, skipped = export_gold(path, args.gold_out)
    print(f"wrote {written} draft gold line(s) from 👍 answers in {path} to {args.gold_out}"
          + (f" ({skipped} skipped: 👎, duplicate or abstained)" if skipped else "")
          + "; review them before use")
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
        p.add_argument("--store", choices=list(STORES), help="vector store (default faiss or $RAG_VECTOR_STORE)")
        p.add_argument("--milvus-uri", help="Milvus URI (default: Milvus Lite file INDEX_DIR/milvus.db, "
                       "or $RAG_MILVUS_URI; e.g. http://127.0.0.1:19530); the token is read from $RAG_MILVUS_TOKEN")
        p.add_argument("--fusion", choices=list(FUSIONS),
                       help="where rankings are fused: 'process' (default, or $RAG_FUSION: the profile's rankings "
                       "and weights) or 'engine' (one Milvus hybrid search: passage vectors + BM25, its RRF ranker)")

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

    def asking(p: argparse.ArgumentParser) -> None:
        p.add_argument("--k", type=int, help="passages to retrieve (default 5)")
        p.add_argument("--backend", choices=BACKENDS, help="answer backend (default extractive)")
        p.add_argument("--corpus", type=Path, help="corpus to index first if there is no index yet")
        common(p)

    p = sub.add_parser("ask", help="ask one question (without one: chat, as `rag chat`)")
    p.add_argument(
        "question", nargs="?",
        help='the question, in Arabic or English (omit it to chat; one starting with "-" works too, or after --)',
    )
    asking(p)
    p.add_argument("--doc", action="append", metavar="DOC_ID",
                   help="search only this article (its file name); repeat for several")
    p.add_argument("--since", metavar="DATE", help="search only articles dated on or after DATE (YYYY-MM-DD, "
                                                   "YYYY-MM or YYYY; the date of an article's front matter)")
    p.add_argument("--until", metavar="DATE", help="search only articles dated on or before DATE")
    p.add_argument("--json", action="store_true", help="print the answer object as JSON (JSON Lines when chatting)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "chat",
        help="ask many questions with one model load: a prompt on a terminal, one question per line from a pipe",
        description="Ask many questions with one model load. On a terminal: a prompt; follow-ups carry the "
                    "conversation. From a pipe: one question per line, each a turn of the conversation (a follow-up "
                    "is resolved against the earlier turns, as in the chat); a blank line starts a new conversation.",
    )
    asking(p)
    p.add_argument("--json", action="store_true", help="print each answer as one JSON line")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("feedback", help="work with the 👍/👎 votes recorded by the chat app")
    fsub = p.add_subparsers(dest="feedback_command", required=True)
    fp = fsub.add_parser("export", help="turn 👍 answers into draft gold lines for review")
    fp.add_argument("--gold-out", type=Path, required=True, help="where to write the draft gold lines (JSON Lines)")
    fp.add_argument("--feedback", type=Path, help="feedback file (default: $RAG_FEEDBACK_PATH or its default)")
    fp.add_argument("--index-dir", type=Path, help="index folder whose data dir holds the default feedback file")
    fp.set_defaults(func=cmd_feedback_export)

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

    p = sub.add_parser(
        "calibrate",
        help="fit the quote weights, refusal and short-answer models to gold questions and store them in the profile",
        description="Chooses the quote weights (how a sentence to quote is scored) on the answerable questions, "
                    "asks every question of each gold file over the index of its corpus, fits the refusal model "
                    "(when the evidence is too weak to answer) on the answers' evidence and the span model (which "
                    "words of the quote are the short answer) on the quotes of answerable questions, prints "
                    "cross-validated figures and saves all three in the --index-dir index's profile.json.",
    )
    p.add_argument("--gold", nargs="+", action="append", required=True, metavar=("FILE", "INDEX_DIR"),
                   help="a gold file, and the index of its corpus when that is not --index-dir (repeatable)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds, grouped by article (default 5)")
    p.add_argument("--l2", type=float, help="L2 regularization of the logistic fit (default 10, as the shipped model)")
    p.add_argument("--max-answerable-refused", default="0.05", metavar="SHARE",
                   help="the threshold refuses as many unanswerable questions as it can while refusing at most this "
                        "share of answerable ones: one share, or one per question language (ar=0.05,en=0.1; "
                        "a language left out gets 0.05; default 0.05)")
    p.add_argument("--out", type=Path, help="also write the fitted refusal model to this JSON file")
    p.add_argument("--span-out", type=Path, help="also write the fitted span model to this JSON file")
    p.add_argument("--no-save", action="store_true", help="report only; leave the index's profile as it is")
    p.add_argument("--index-dir", type=Path, help="the index whose profile gets the model (default: index/)")
    p.add_argument("--model", help="sentence-transformers model name or path (default: bundled)")
    p.add_argument("--json", action="store_true", help="print the model and the figures as one JSON object")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("gold", help="gold question sets: import a standard benchmark")
    gold = p.add_subparsers(dest="gold_command", required=True)
    p = gold.add_parser(
        "import", help="convert a SQuAD-format file (v1.1 or 2.0: SQuAD, ARCD, MLQA, XQuAD, AAQAD) into articles "
        "and a gold file"
    )
    p.add_argument("file", type=Path, help="the SQuAD .json file (v1.1, or 2.0 with is_impossible questions)")
    p.add_argument("--corpus-out", type=Path, required=True, help="new or empty folder for the article files")
    p.add_argument("--gold-out", type=Path, required=True, help="the gold .jsonl file to write")
    p.add_argument("--hold-out-articles", type=int, default=0, metavar="N",
                   help="keep N articles out of the corpus; their questions become unanswerable (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seeds the choice of held-out articles (default 0)")
    p.add_argument("--articles", metavar="START:END",
                   help="import only these articles, by position in the file after merging entries with the "
                   "same title (e.g. :9, then 9: for the rest): "
                   "splits a benchmark by article into a development part and a report part")
    p.add_argument("--questions-from", type=Path, metavar="OTHER.json",
                   help="a parallel file with the same question ids: adds its questions, answered by FILE's spans")
    p.add_argument("--lang", choices=("ar", "en"), default="en",
                   help="the language of --questions-from (default en)")
    p.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    p.set_defaults(func=cmd_gold_import)

    p = sub.add_parser("train", help="train the learned parts of the answer stage")
    tsub = p.add_subparsers(dest="train_command", required=True)
    p = tsub.add_parser(
        "reader", help="train the reading model (a cross-encoder on the bundled encoder) on SQuAD-format files",
        description="Trains the reader: the bundled encoder's upper layers and two heads (does this sentence "
        "answer the question; where does the short answer start and end) on question-sentence pairs made from "
        "SQuAD v1.1/v2.0 files. The lower layers stay the bundled encoder's; their outputs are computed once and "
        "cached in --work, with checkpoints: the same command resumes a killed run.",
    )
    p.add_argument("--train", action="append", required=True, metavar="FILE[:WEIGHT]",
                   help="a SQuAD v1.1/v2.0 training file, with the weight of its pairs in the loss (repeatable)")
    p.add_argument("--valid", help="a SQuAD file to validate on after each epoch (sentence choice, span F1)")
    p.add_argument("--out", type=Path, required=True, help="folder for reader.safetensors and reader.json")
    p.add_argument("--work", type=Path, default=Path(".reader-work"),
                   help="cache and checkpoints (default .reader-work/)")
    p.add_argument("--negatives", type=int, default=2, help="sentences that do not answer, per question (2)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate of the encoder layers (heads: 10x)")
    p.add_argument("--answer-weight", type=float, default=1.0,
                   help="weight of the answer head's loss against the span head's (1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", type=int, default=8, help="layers below this stay frozen (of 12; default 8)")
    p.add_argument("--max-len", type=int, default=128, help="tokens per question-sentence input (128)")
    p.add_argument("--max-examples", type=int, help="use at most this many pairs (drawn with --seed)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (the learning-rate schedule ends there)")
    p.add_argument("--valid-questions", type=int, default=300, help="validate on at most this many (300)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-resume", action="store_true", help="start again, ignoring --work's checkpoint")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.add_argument("--json", action="store_true", help="print the model card as one JSON line")
    p.set_defaults(func=cmd_train_reader)

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
    p.add_argument("--scaling-sizes", default="5,50,500",
                   help="article counts for the build-scaling measure (5 = the seeds; 'none' skips it)")
    p.add_argument("--arcd", type=Path, default=Path("../shared/data/arcd/arcd.json"),
                   help="ARCD (SQuAD-format JSON) for the scaling corpora")
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
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.captureWarnings(True)  # the libraries' Python warnings become log records (py.warnings)
    if not args.verbose:  # the libraries' own bars (loading weights, batches) and warnings; ours stay
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        logging.getLogger("py.warnings").setLevel(logging.ERROR)
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
