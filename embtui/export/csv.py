"""The spreadsheet exports: every epoch of every run (`csv`), or one row per cell (`summary-csv`).

`to_csv` writes the layout of Keras' `CSVLogger` for a model compiled with `metrics=["acc"]`
(the reference notebook's setting), so a script written for CSVLogger files reads it:
`epoch`, then the metrics in sorted order (`acc,loss,val_acc,val_loss`), then the run each
row belongs to (`seconds,run_id,size,arm,seed,head,status`) and what that run cost
(`run_wall_s,run_peak_rss_mb,run_peak_gpu_mem_mb,run_mean_gpu_util`, empty where not
measured). In a sweep, one column per factor that varies follows (`head`, `learning_rate`,
...), and `arm` names the arm by those values. One difference: `epoch` counts from 1, as
everywhere in embtui, where CSVLogger counts from 0.

Floats are written with `repr`, so they read back as exactly the numbers in the store.
"""

from __future__ import annotations

import csv
import io

from embtui.export.report import Report

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
    factors = [k for k in report.factors if k != "embeddings" or len(report.factors) > 1]
    writer.writerow([*EPOCH_COLUMNS, *factors])
    for r in report.runs:
        run = r.run
        cost = [_num(value) for value in r.cost().values()]
        levels = [r.factors.get(k, "") for k in factors]
        for e in r.epochs:
            writer.writerow(
                [
                    e.epoch,
                    *(_num(getattr(e, column)) for column in METRIC_COLUMNS),
                    _num(e.seconds),
                    run.id,
                    run.size,
                    r.arm,
                    run.seed,
                    run.head,
                    run.status,
                    *cost,
                    *levels,
                ]
            )
    return out.getvalue()


def to_summary_csv(report: Report) -> str:
    """One row per (size, arm) cell with its statistics over the finished runs."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
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
