"""The machine-readable export: the verdicts first (`verdicts`, `verdict_family`,
`main_effects`, `conclusion`: the same as every other view's, see `embtui.export.verdicts`),
then every run, every epoch, and the statistics behind them.

Values are written at full float precision so that anyone can recompute the summary from
the per-run numbers and get the same result.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from embtui.export.report import Report
from embtui.export.verdicts import effect_dict, verdicts
from embtui.metrics import METRIC_LABELS


def report_dict(report: Report) -> dict[str, Any]:
    exp = report.experiment
    s = report.summary
    groups = {(g.size, g.arm): g for g in s.groups}
    summary = []
    for m in report.means:
        g = groups.get((m.size, m.embedding))
        row: dict[str, Any] = {"arm": m.embedding, **asdict(m)}
        if g is not None:
            row.update(
                metric=s.metric,
                mean=g.mean,
                sd=g.sd,
                ci_low=g.ci_low,
                ci_high=g.ci_high,
                half_width=g.half_width,
                values=list(g.values),
            )
        summary.append(row)
    v = verdicts(report)
    out: dict[str, Any] = {
        # The verdicts first (`embtui.export.verdicts`: the same in every view), then
        # everything they rest on.
        "verdicts": [row.as_dict() for row in v.rows],
        "verdict_family": {
            "family": v.family,
            "holm_tests": v.n_tests,
            "alpha": v.alpha,
            "metric": v.metric,
            "text": v.family_text,
            "statements": [{"size": s.size, "statement": s.statement} for s in v.sizes],
            "appendix": v.appendix_text or None,
        },
        "main_effects": [effect_dict(e) for e in v.effects],
        "conclusion": v.conclusion,
        "notes": list(v.notes),
        "experiment": {
            "id": exp.id,
            "name": exp.name,
            "config": exp.config,
            "created": exp.created,
            "finished": exp.finished,
            "status": exp.status,
            "meta": exp.meta,
        },
        "runs": [
            {
                "id": r.run.id,
                "size": r.run.size,
                "embedding": r.run.embedding,
                "arm": r.arm,
                "factors": dict(r.factors),
                "head": r.run.head,
                "seed": r.run.seed,
                "status": r.run.status,
                "error": r.run.error,
                "device": r.run.device,
                "params": r.run.params,
                "coverage": r.run.coverage,
                "experiment": r.run.experiment_id,
                "duplicate_of": r.duplicate_of,
                **r.cost(),
                "epochs": [e.as_dict() for e in r.epochs],
            }
            for r in report.runs
        ],
        "summary": summary,
        "comparisons": [asdict(c) for c in s.comparisons],
        "statistics": {
            "metric": s.metric,
            "alpha": s.alpha,
            "chance": s.chance,
            "holm_adjusted": s.adjusted,
            "conclusion": s.conclusion(),
        },
        "factors": list(report.factors),
        "arms": list(report.arms),
        "duplicates": {
            "set_aside": [
                {
                    "run": d.run.id,
                    "experiment": d.run.experiment_id,
                    "repeats": d.kept.id,
                    "repeats_experiment": d.kept.experiment_id,
                    "largest_difference": d.largest_difference,
                }
                for d in report.duplicates.set_aside
            ],
            "notes": report.duplicate_lines(),
        },
    }
    if report.pooled:
        out["experiments"] = [_experiment(e) for e in report.experiments]
    if report.sweep is not None:
        out["sweep"] = {
            "best": [
                {
                    "size": b.size,
                    "best": b.best,
                    "mean": b.mean,
                    "not_worse": list(b.not_worse),
                    "verdict": b.verdict(),
                    "others": [
                        {k: v for k, v in asdict(o).items() if k != "alpha"}
                        | {"significant": o.significant}
                        for o in b.others
                    ],
                }
                for b in report.sweep.best
            ],
            "effects": [
                {k: v for k, v in asdict(e).items() if k != "alpha"}
                | {"significant": e.significant, "verdict": e.verdict()}
                for e in report.sweep.effects
            ],
            "holm_family_best": report.sweep.n_best_tests,
            "conclusion": report.sweep.conclusion(METRIC_LABELS[s.metric], s.chance),
        }
    return out


def _experiment(exp: Any) -> dict[str, Any]:
    return {
        "id": exp.id,
        "name": exp.name,
        "config": exp.config,
        "created": exp.created,
        "finished": exp.finished,
        "status": exp.status,
        "meta": exp.meta,
    }


def to_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"
