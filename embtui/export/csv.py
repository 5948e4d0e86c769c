"""The spreadsheet exports: every epoch of every run (`csv`), or one row per cell (`summary-csv`).

`to_csv` writes the layout of Keras' `CSVLogger` for a model compiled with `metrics=["acc"]`
(the reference notebook's setting), so a script written for CSVLogger files reads it:
`epoch`, then the metrics in sorted order (`acc,loss,val_acc,val_loss`), then the run each
row belongs to (`seconds,run_id,size,arm,seed,head,status`) and what that run cost
(`run_wall_s,run_peak_rss_mb,run_peak_gpu_mem_mb,run_mean_gpu_util`, empty where not
measured). Several experiments pooled add `experiment` (the id each run was recorded in),
and a report that counted a repeated run once adds `duplicate_of` (the run it repeats; empty
for the runs counted).
In a sweep, one column per factor that varies follows (`learning_rate`, `embedding_dim`,
...; `head` is already a column), and `arm` names the arm by those values. One difference:
`epoch` counts from 1, as everywhere in embtui, where CSVLogger counts from 0.

`to_summary_csv` writes `size,arm`, then one column per factor that varies (as above, plus
`head`), `experiment` when pooled (the ids whose runs a cell holds, joined by `+`: `3+5`),
then the cell's statistics. Every column name appears once, so pandas reads the files as
they are.

Floats are written with `repr`, so they read back as exactly the numbers in the store. Text
(arm names, heads, factor values: a user's own arm strings included) goes through
`embtui.escape.csv_cell`: no control characters, and a leading `'` before text a
spreadsheet would run as a formula (`=`, `+`, `-`, `@`); numbers stay numbers.
"""

from __future__ import annotations

import csv
import io

from embtui.escape import csv_cell
from embtui.report.model import Report, RunReport

METRIC_COLUMNS = ("acc", "loss", "val_acc", "val_loss")
RUN_COLUMNS = ("seconds", "run_id", "size", "arm", "seed", "head", "status")
#: What the whole run cost (the same on each of its rows): see `RunReport.cost`.
COST_COLUMNS = ("run_wall_s", "run_peak_rss_mb", "run_peak_gpu_mem_mb", "run_mean_gpu_util")
EPOCH_COLUMNS = ("epoch", *METRIC_COLUMNS, *RUN_COLUMNS, *COST_COLUMNS)

SUMMARY_COLUMNS = (
    "size",
    "arm",
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
    """One row per (run, epoch), runs in grid order; runs without epochs have no rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    factors = [k for k in _factor_columns(report) if k not in EPOCH_COLUMNS]
    pooled = ["experiment"] if report.pooled else []
    # A run that repeats another is in the rows (it was recorded) but not in the statistics:
    # `duplicate_of` names the run it repeats, so a groupby can leave it out.
    repeats = ["duplicate_of"] if report.duplicates.set_aside else []
    writer.writerow([*EPOCH_COLUMNS, *pooled, *repeats, *factors])
    for r in report.runs:
        run = r.run
        cost = [_num(value) for value in r.cost().values()]
        where: list[int | str] = [run.experiment_id] if report.pooled else []
        if repeats:
            where.append("" if r.duplicate_of is None else r.duplicate_of)
        levels = [csv_cell(r.factors.get(k, "")) for k in factors]
        for e in r.epochs:
            writer.writerow(
                [
                    e.epoch,
                    *(_num(getattr(e, column)) for column in METRIC_COLUMNS),
                    _num(e.seconds),
                    run.id,
                    run.size,
                    csv_cell(r.arm),
                    run.seed,
                    csv_cell(run.head),
                    csv_cell(run.status),
                    *cost,
                    *where,
                    *levels,
                ]
            )
    return out.getvalue()


def to_summary_csv(report: Report) -> str:
    """One row per (size, arm) cell with its statistics over the finished runs."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    factors = [k for k in _factor_columns(report) if k not in SUMMARY_COLUMNS]
    pooled = ["experiment"] if report.pooled else []
    writer.writerow([*SUMMARY_COLUMNS[:2], *factors, *pooled, *SUMMARY_COLUMNS[2:]])
    cells: dict[tuple[int, str], list[RunReport]] = {}
    for r in report.done:
        cells.setdefault((r.run.size, r.arm), []).append(r)
    order = [e.id for e in report.experiments]
    for m in report.means:
        g = report.summary.group(m.size, m.embedding)
        runs = cells.get((m.size, m.embedding), [])
        levels = [csv_cell(runs[0].factors.get(k, "")) if runs else "" for k in factors]
        ids = sorted({r.run.experiment_id for r in runs}, key=order.index)
        where = ["+".join(map(str, ids))] if report.pooled else []
        writer.writerow(
            [
                m.size,
                csv_cell(m.embedding),
                *levels,
                *where,
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


def _factor_columns(report: Report) -> list[str]:
    """The factors that vary among the runs exported, one column each; none where the only
    one is the embedding (the `arm` column names it already)."""
    return [k for k in report.factors if k != "embeddings" or len(report.factors) > 1]


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))
