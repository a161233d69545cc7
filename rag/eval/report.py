"""Present an evaluation report: JSON without NaN, a text summary, Markdown, a chart, and a comparison.

Everything here is a pure function from a report dict (``rag.evaluate.build_report``) to text, except
``write_report`` and ``write_chart`` which write files.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.types import LANGUAGES

log = logging.getLogger(__name__)

#: The metric groups of a report, in display order, and the metrics in each.
GROUPS: dict[str, tuple[str, ...]] = {
    "retrieval": ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10"),
    "answer": ("contains", "f1", "median_chars", "short_em", "short_f1", "short_right", "short_in_english"),
    "citation": ("precision", "recall"),
    "abstention": ("unanswerable_refused", "unanswerable_refused_article", "unanswerable_refused_paragraph",
                   "answerable_refused"),
    "refusals": ("share", "right"),
    "latency_ms": ("p50", "p95"),
}
#: Metrics where lower is better; ``median_chars`` and ``refusals.share`` (all refusals, right or wrong) are neither
#: better nor worse and are never compared.
LOWER_IS_BETTER = frozenset({"abstention.answerable_refused", "latency_ms.p50", "latency_ms.p95"})
NEUTRAL = frozenset({"answer.median_chars", "refusals.share"})
#: The metrics drawn in the chart, per language.
CHART_METRICS = (
    "retrieval.hit@5", "retrieval.mrr@10", "answer.contains", "answer.f1", "answer.short_right",
    "citation.precision", "citation.recall", "abstention.unanswerable_refused", "abstention.answerable_refused",
)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, so it serializes as strict JSON.

    Example: ``json_safe({"a": [1.0, float("nan")]}) == {"a": [1.0, None]}``
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def to_json(report: dict[str, Any], indent: int | None = None) -> str:
    """The report as strict JSON (NaN -> null), Arabic kept readable.

    Example: ``to_json({"x": float("nan")}) == '{"x": null}'``
    """
    return json.dumps(json_safe(report), ensure_ascii=False, indent=indent, allow_nan=False)


def metric_items(group: dict[str, Any]) -> Iterator[tuple[str, float | None]]:
    """``("group.metric", value)`` for every metric of one aggregate, in display order.

    Example: ``next(metric_items({"retrieval": {"hit@1": 0.5}})) == ("retrieval.hit@1", 0.5)``
    """
    for name, metrics in GROUPS.items():
        values = group.get(name) or {}
        for metric in metrics:
            if metric in values:
                yield f"{name}.{metric}", values[metric]


def format_value(name: str, value: float | None) -> str:
    """A metric value for people: rates with three decimals, milliseconds and characters as whole numbers.

    Example: ``format_value("latency_ms.p50", 12.34) == "12"`` and ``format_value("answer.f1", None) == "-"``
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if name.startswith("latency_ms.") or name.endswith("median_chars"):
        return f"{value:.0f}"
    return f"{value:.3f}"


#: The column of each position in a conversation (``report["by_position"]``).
POSITION_COLUMNS = {"first": "first", "follow_up": "follow-up"}


def _columns(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """All questions, each language, and, when the report has follow-ups, first turns and follow-ups."""
    by_language = report.get("by_language") or {}
    columns = [("all", report)] + [(lang, by_language[lang]) for lang in LANGUAGES if lang in by_language]
    by_position = report.get("by_position") or {}
    if (by_position.get("follow_up") or {}).get("n"):
        columns += [(name, by_position[key]) for key, name in POSITION_COLUMNS.items() if key in by_position]
    return columns


def _turns_note(report: dict[str, Any]) -> str:
    """" (12 first turns, 30 follow-ups)" when the report has follow-ups, else ""."""
    by_position = report.get("by_position") or {}
    follow_ups = (by_position.get("follow_up") or {}).get("n")
    if not follow_ups:
        return ""
    return f" ({(by_position.get('first') or {}).get('n', 0)} first turns, {follow_ups} follow-ups)"


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def metrics_table(report: dict[str, Any], markdown: bool = False) -> str:
    """One row per metric, one column for all questions and one per language (and, when the report has
    follow-ups, one for first turns and one for follow-ups).

    Example: ``metrics_table(report).splitlines()[0].split() == ["metric", "all", "ar", "en"]``
    """
    columns = _columns(report)
    header = ["metric"] + [f"{name}" for name, _ in columns]
    rows = [["n"] + [str(g.get("n", "-")) for _, g in columns]]
    names = [name for name, _ in metric_items(report)]
    for name in names:
        group, metric = name.split(".", 1)
        rows.append([name] + [format_value(name, (g.get(group) or {}).get(metric)) for _, g in columns])
    return _table(header, rows, markdown)


def summary_text(report: dict[str, Any]) -> str:
    """The readable summary ``rag eval`` prints without ``--json``: the metrics table and the failures.

    Example: ``"retrieval.hit@5" in summary_text(report)``
    """
    meta = report.get("meta") or {}
    head = f"{report.get('n', 0)} questions{_turns_note(report)}"
    if meta:
        head += f" (k={meta.get('k')}, backend={meta.get('backend')})"
    failed = [q for q in report.get("questions", []) if q.get("failed")]
    lines = [head, "", metrics_table(report), ""]
    lines.append(f"{len(failed)} question(s) failed a check" + (":" if failed else ""))
    for q in failed:
        lines.append(f"  {q['id']:<8} {', '.join(q['failed'])}")
    calibration = calibration_lines(report)
    if calibration:
        lines += ["", "abstention on the refusal model's probability alone "
                  "(refused unanswerable / refused answerable):"]
        lines += [f"  {line}" for line in calibration]
    return "\n".join(lines)


def calibration_lines(report: dict[str, Any]) -> list[str]:
    """One line per language: refusal rates at the current probability threshold and at the best one on this set.

    Example: ``calibration_lines({"calibration": {}}) == []``
    """
    out = []
    for lang, cal in (report.get("calibration") or {}).items():
        best, cur = (cal or {}).get("best"), (cal or {}).get("current")
        if not best:
            continue
        text = f"[{lang}] "
        if cur:
            text += (f"current {cur['threshold']}: {format_value('', cur['unanswerable_refused'])} / "
                     f"{format_value('', cur['answerable_refused'])}; ")
        text += (f"best on this set {best['threshold']}: {format_value('', best['unanswerable_refused'])} / "
                 f"{format_value('', best['answerable_refused'])} (n={cal['n']})")
        out.append(text)
    return out


def _cell(text: str, limit: int = 90) -> str:
    """Text fit for one Markdown table cell: one line, pipes escaped, shortened."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_report(report: dict[str, Any], chart: str | None = None) -> str:
    """``report.md``: overall and per-language tables, then the failed questions.

    Example: ``markdown_report(report).startswith("# Evaluation report")``
    """
    meta = report.get("meta") or {}
    lines = ["# Evaluation report", ""]
    lines.append(
        f"{report.get('n', 0)} questions ({report.get('n_answerable', '?')} answerable, "
        f"{report.get('n_unanswerable', '?')} unanswerable){_turns_note(report)}; k={meta.get('k')}, "
        f"backend={meta.get('backend')}, model={meta.get('model')}, reader={meta.get('reader') or 'off (rules)'}."
    )
    lines += [
        "",
        "Retrieval, answer and citation metrics are over answerable questions; an abstained answer counts as "
        "no answer and no citation. A passage is relevant when it (or a near-duplicate folded into it) "
        "contains a gold evidence span. `-` means no question to average over. A short answer is right when it "
        "holds a whole gold answer with token F1 at least 0.5 against it. A follow-up is a conversation's "
        "second turn or later, asked with the earlier turns as the chat passes them.",
        "",
        "## Metrics (overall and per language)",
        "",
        metrics_table(report, markdown=True),
        "",
    ]
    if chart:
        lines += [f"![main metrics per language]({chart})", ""]
    calibration = calibration_lines(report)
    if calibration:
        lines += [
            "## Abstention calibration",
            "",
            "Refusal rates if the answer abstained on the refusal model's probability alone (refused "
            "unanswerable / refused answerable), at the current threshold and at the best one on this set "
            "(tuned on it, so optimistic):",
            "",
        ]
        lines += [f"- {line}" for line in calibration] + [""]
    failed = [q for q in report.get("questions", []) if q.get("failed")]
    lines += [f"## Failed questions ({len(failed)})", ""]
    if failed:
        rows = [
            [q["id"], q["lang"], _cell(q["question"], 80), ", ".join(q["failed"]), _cell(q["answer"]),
             ", ".join(dict.fromkeys(q.get("cited_docs") or [])) or "-"]
            for q in failed
        ]
        lines.append(_table(["id", "lang", "question", "failed", "answer", "cited"], rows, markdown=True))
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def write_chart(report: dict[str, Any], path: Path) -> Path:
    """A PNG of grouped bars: the main metrics, one bar per language (and overall).

    Example: ``write_chart(report, tmp_path / "metrics.png").stat().st_size > 0``
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = _columns(report)
    x = np.arange(len(CHART_METRICS))
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for i, (name, group) in enumerate(columns):
        values = []
        for metric in CHART_METRICS:
            g, m = metric.split(".", 1)
            v = (group.get(g) or {}).get(m)
            values.append(np.nan if v is None else v)
        ax.bar(x + (i - (len(columns) - 1) / 2) * width, values, width, label=f"{name} (n={group.get('n', 0)})")
    ax.set_xticks(x, [m.split(".", 1)[1].replace("_", "\n") for m in CHART_METRICS], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (answerable_refused: lower is better)")
    ax.set_title("Evaluation: main metrics per language")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and ``metrics.png`` into ``out_dir`` (created if needed).

    Example: ``[p.name for p in write_report(report, tmp_path)] == ["report.json", "metrics.png", "report.md"]``
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(to_json(report, indent=2) + "\n", encoding="utf-8")
    chart = write_chart(report, out_dir / "metrics.png")
    md = out_dir / "report.md"
    md.write_text(markdown_report(report, chart.name), encoding="utf-8")
    return [json_path, chart, md]


@dataclass(frozen=True)
class Change:
    """One metric that moved between two reports.

    Attributes:
        scope: ``"all"``, ``"ar"`` or ``"en"``.
        metric: ``"group.metric"``.
        old: The earlier value.
        new: The current value.
        better: Whether the move is an improvement.
    """

    scope: str
    metric: str
    old: float
    new: float
    better: bool


def compare_reports(
    old: dict[str, Any], new: dict[str, Any], tolerance: float = 0.005, latency_tolerance: float = 0.1
) -> list[Change]:
    """The metrics that improved or regressed from ``old`` to ``new``, overall and per language.

    A rate must move by more than ``tolerance`` (absolute) and a latency by more than ``latency_tolerance``
    (relative) to count; missing or null values and ``median_chars`` are skipped.

    Example: ``compare_reports({"answer": {"f1": 0.5}}, {"answer": {"f1": 0.6}})[0].better is True``

    Args:
        old: An earlier report (e.g. a loaded ``report.json``).
        new: The current report.
        tolerance: Smallest absolute change of a rate that counts.
        latency_tolerance: Smallest relative change of a latency that counts.

    Returns:
        The changes, in display order.
    """
    old_cols, new_cols = dict(_columns(old)), dict(_columns(new))
    changes = []
    for scope, group in new_cols.items():
        before = dict(metric_items(old_cols.get(scope) or {}))
        for name, value in metric_items(group):
            prev = before.get(name)
            if name in NEUTRAL or prev is None or value is None or not _is_number(prev) or not _is_number(value):
                continue
            delta = value - prev
            if name.startswith("latency_ms."):
                moved = abs(delta) > latency_tolerance * max(abs(prev), 1e-9)
            else:
                moved = abs(delta) > tolerance
            if moved:
                better = delta < 0 if name in LOWER_IS_BETTER else delta > 0
                changes.append(Change(scope, name, float(prev), float(value), better))
    return changes


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_comparison(changes: list[Change]) -> str:
    """The ``--compare`` text: improvements, then regressions, one line each.

    Example: ``format_comparison([]) == "no metric moved beyond the tolerance"``
    """
    if not changes:
        return "no metric moved beyond the tolerance"
    lines = []
    for title, better in (("improved", True), ("regressed", False)):
        picked = [c for c in changes if c.better is better]
        lines.append(f"{title} ({len(picked)}):")
        for c in picked:
            old, new = format_value(c.metric, c.old), format_value(c.metric, c.new)
            lines.append(f"  [{c.scope}] {c.metric}: {old} -> {new}")
    return "\n".join(lines)
