"""The spreadsheet export: one row per (size, arm) cell with its statistics."""

from __future__ import annotations

import csv
import io

from embtui.export.report import Report

COLUMNS = (
    "size",
    "embedding",
    "n",
    "metric",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "final_val_acc_mean",
    "best_val_acc_mean",
)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for m in report.means:
        g = report.summary.group(m.size, m.embedding)
        writer.writerow(
            [
                m.size,
                m.embedding,
                m.n,
                report.summary.metric,
                _num(g.mean if g else None),
                _num(g.sd if g else None),
                _num(g.ci_low if g else None),
                _num(g.ci_high if g else None),
                _num(m.final_val_acc_mean),
                _num(m.best_val_acc_mean),
            ]
        )
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))
