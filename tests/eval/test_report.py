"""Report presentation: strict JSON, tables, Markdown, the chart, and comparison of two reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rag.eval.evaluate import QuestionRecord, build_report
from rag.eval.report import (
    calibration_lines,
    compare_reports,
    format_comparison,
    format_value,
    json_safe,
    markdown_report,
    metrics_table,
    summary_text,
    to_json,
    write_report,
)


def _records() -> list[QuestionRecord]:
    def rec(id: str, lang: str, answerable: bool, abstained: bool, relevant: list[bool], failed_text: str = ""):
        return QuestionRecord(
            id=id, lang=lang, question=f"سؤال | {id}", answerable=answerable,
            answers=["x"] if answerable else [], sources=["a.txt"] if answerable else [],
            answer=f"answer {failed_text}", abstained=abstained, relevant=relevant,
            retrieved_chunks=["a.txt#0"], retrieved_docs=["a.txt"],
            cited_docs=["a.txt"] if answerable and not abstained else [],
            contains=(not abstained) if answerable else None, f1=0.5 if answerable else None, latency_ms=10.0,
        )

    records = [
        rec("ar-1", "ar", True, False, [True]),
        rec("ar-2", "ar", True, True, [False]),
        rec("en-1", "en", False, False, []),
    ]
    from rag.eval.evaluate import failed_checks

    for r in records:
        r.failed = failed_checks(r)
    return records


def test_json_safe_and_to_json_turn_nan_into_null() -> None:
    assert json_safe({"a": [1.0, float("nan")], "b": (float("inf"),), "c": "x"}) == {"a": [1.0, None], "b": [None],
                                                                                     "c": "x"}
    report = build_report(_records())
    text = to_json(report)
    parsed = json.loads(text)  # strict: would fail on NaN
    assert parsed["by_language"]["en"]["retrieval"]["hit@1"] is None  # no answerable English question
    assert "سؤال" in text  # Arabic kept readable


def test_format_value() -> None:
    assert format_value("latency_ms.p95", 12.6) == "13"
    assert format_value("answer.median_chars", 140.0) == "140"
    assert format_value("answer.f1", 0.12345) == "0.123"
    assert format_value("answer.f1", None) == "-" and format_value("answer.f1", math.nan) == "-"


def test_tables_and_summary() -> None:
    report = build_report(_records(), meta={"k": 5, "backend": "extractive"})
    table = metrics_table(report)
    assert table.splitlines()[0].split() == ["metric", "all", "ar", "en"]
    hit1 = next(line for line in table.splitlines() if line.startswith("retrieval.hit@1"))
    assert hit1.split() == ["retrieval.hit@1", "0.500", "0.500", "-"]
    summary = summary_text(report)
    assert "3 questions (k=5, backend=extractive)" in summary
    assert "ar-2" in summary and "refused" in summary and "not_refused" in summary


def test_the_table_shows_refusals_per_kind_of_unanswerable_question_when_the_report_has_them() -> None:
    records = _records()
    assert "unanswerable_refused_" not in metrics_table(build_report(records))
    records[2].unanswerable = "paragraph"
    table = metrics_table(build_report(records))
    row = next(line for line in table.splitlines() if line.startswith("abstention.unanswerable_refused_paragraph"))
    assert row.split() == ["abstention.unanswerable_refused_paragraph", "0.000", "-", "0.000"]
    assert "unanswerable_refused_article" not in table


def test_markdown_escapes_cells_and_lists_failures() -> None:
    md = markdown_report(build_report(_records()), chart="metrics.png")
    assert md.startswith("# Evaluation report")
    assert "| metric | all | ar | en |" in md
    assert "![main metrics per language](metrics.png)" in md
    assert "## Failed questions (2)" in md
    assert "سؤال \\| ar-2" in md  # a pipe inside a cell is escaped


def test_write_report_files(tmp_path: Path) -> None:
    paths = write_report(build_report(_records()), tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "metrics.png", "report.md"]
    assert json.loads(paths[0].read_text(encoding="utf-8"))["n"] == 3
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "metrics.png" in paths[2].read_text(encoding="utf-8")


def test_compare_reports_direction_and_tolerance() -> None:
    old = {
        "retrieval": {"hit@1": 0.50, "hit@5": 0.80},
        "answer": {"contains": 0.60, "median_chars": 100.0},
        "abstention": {"answerable_refused": 0.10},
        "latency_ms": {"p50": 100.0, "p95": 200.0},
        "by_language": {"ar": {"retrieval": {"hit@1": 0.4}}, "en": {"retrieval": {"hit@1": None}}},
    }
    new = {
        "retrieval": {"hit@1": 0.60, "hit@5": 0.803},  # +0.10 counts; +0.003 is within tolerance
        "answer": {"contains": 0.50, "median_chars": 300.0},  # contains regressed; median_chars never compared
        "abstention": {"answerable_refused": 0.05},  # lower is better: an improvement
        "latency_ms": {"p50": 105.0, "p95": 260.0},  # +5% is noise; +30% is a regression
        "by_language": {"ar": {"retrieval": {"hit@1": 0.3}}, "en": {"retrieval": {"hit@1": 0.9}}},
    }
    changes = {(c.scope, c.metric): c.better for c in compare_reports(old, new)}
    assert changes == {
        ("all", "retrieval.hit@1"): True,
        ("all", "answer.contains"): False,
        ("all", "abstention.answerable_refused"): True,
        ("all", "latency_ms.p95"): False,
        ("ar", "retrieval.hit@1"): False,
    }
    text = format_comparison(compare_reports(old, new))
    assert text.splitlines()[0] == "improved (2):"
    assert "  [all] retrieval.hit@1: 0.500 -> 0.600" in text and "regressed (3):" in text
    assert format_comparison([]) == "no metric moved beyond the tolerance"


def test_calibration_per_language_in_report_and_text() -> None:
    records = _records()
    records[0].p_answerable, records[1].p_answerable, records[2].p_answerable = 0.95, 0.80, 0.70
    report = build_report(records, meta={"refusal_threshold": {"ar": 0.9, "en": 0.8}})
    ar = report["calibration"]["ar"]
    # Arabic: answerable at 0.95 and 0.80, no unanswerable; threshold 0.9 refuses the 0.80 one.
    assert ar["n"] == 2 and ar["current"]["answerable_refused"] == 0.5
    assert report["calibration"]["en"]["current"]["unanswerable_refused"] == 1.0  # 0.70 < 0.8
    lines = calibration_lines(report)
    assert lines[0].startswith("[ar] current 0.9: - / 0.500; best on this set")
    assert "abstention on the refusal model's probability alone" in summary_text(report)
    assert "## Abstention calibration" in markdown_report(report)


def test_first_turns_and_follow_ups_get_their_own_columns_when_the_report_has_follow_ups() -> None:
    records = _records()
    assert metrics_table(build_report(records)).splitlines()[0].split() == ["metric", "all", "ar", "en"]
    records[1].follow_up = True  # ar-2: answerable, refused
    records[1].short_right, records[0].short_right = False, True
    report = build_report(records, meta={"k": 5, "backend": "extractive"})
    table = metrics_table(report)
    assert table.splitlines()[0].split() == ["metric", "all", "ar", "en", "first", "follow-up"]
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:]}
    assert rows["n"] == ["3", "2", "1", "2", "1"]
    assert rows["answer.short_right"] == ["0.500", "0.500", "-", "1.000", "0.000"]
    assert rows["abstention.answerable_refused"] == ["0.500", "0.500", "-", "0.000", "1.000"]
    # Refusals: ar-2 of three questions; it was answerable, so no refusal was right.
    assert rows["refusals.share"] == ["0.333", "0.500", "0.000", "0.000", "1.000"]
    assert rows["refusals.right"] == ["0.000", "0.000", "-", "-", "0.000"]
    assert summary_text(report).startswith("3 questions (2 first turns, 1 follow-ups) (k=5, backend=extractive)")
    assert "| metric | all | ar | en | first | follow-up |" in markdown_report(report)
    # Compared per position too; the share of refusals is neither better nor worse.
    better = build_report(records)
    better["by_position"]["follow_up"]["answer"]["short_right"] = 1.0
    better["refusals"]["share"] = 0.0
    changes = compare_reports(report, better)
    assert [(c.scope, c.metric, c.better) for c in changes] == [("follow-up", "answer.short_right", True)]
