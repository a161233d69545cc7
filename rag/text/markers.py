"""Citation markers: ``[n]``, ``[n, m]`` (ASCII or Arabic-Indic digits), as answers cite their numbered sources."""

from __future__ import annotations

import re

DIGIT = "[0-9\u0660-\u0669\u06f0-\u06f9]"
#: One marker: ``[1]``, ``[1, 2]``, ``[١،٢]``.
MARKER = rf"\[\s*{DIGIT}+(?:\s*[,،]\s*{DIGIT}+)*\s*\]"
MARKER_RE = re.compile(MARKER)
_SPACED_MARKERS = re.compile(rf"\s*{MARKER}")


def marker_numbers(marker_text: str) -> list[int]:
    """The numbers in a marker or a run of markers, in order.

    Example: ``marker_numbers("[1][2, ٣]") == [1, 2, 3]``
    """
    return [int(d) for d in re.findall(f"{DIGIT}+", marker_text)]


def markers(text: str) -> list[int]:
    """Every number cited with a marker, in order of appearance (repeats kept).

    Example: ``markers("a [1] b [2][1] c [3, 4]") == [1, 2, 1, 3, 4]``
    """
    return [n for m in MARKER_RE.finditer(text) for n in marker_numbers(m.group())]


def strip_markers(text: str) -> str:
    """``text`` without its markers (and the space before each).

    Example: ``strip_markers("قال «نص» [1] هنا") == "قال «نص» هنا"``
    """
    return _SPACED_MARKERS.sub("", text)
