"""The machine-readable export: the verdicts first (`verdicts`, `verdict_family`,
`main_effects`, `conclusion`: the same as every other view's, see `embtui.report.verdicts`),
then every run, every epoch, and the statistics behind them.

Values are written at full float precision so that anyone can recompute the summary from
the per-run numbers and get the same result. The text is exactly `json.dumps(..., indent=2)`,
written by `dumps_indented`: the standard library's indenting encoder is pure Python and
took seconds (and hundreds of MB of pieces) for a 10,000-run experiment's 100,000 epochs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from json.encoder import encode_basestring_ascii
from typing import IO, Any

from embtui.metrics import METRIC_LABELS
from embtui.report.model import Report
from embtui.report.verdicts import effect_dict, verdicts


def report_dict(report: Report, *, runs: bool = True) -> dict[str, Any]:
    """Everything the JSON export holds; `runs=False` leaves `runs` empty (`write_json`
    writes them one at a time)."""
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
    folders = tensorboard_folders(report) if runs else {}
    out: dict[str, Any] = {
        # The verdicts first (`embtui.report.verdicts`: the same in every view), then
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
        "runs": [_run_dict(r, folders) for r in report.runs] if runs else [],
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


def tensorboard_folders(report: Report) -> dict[int, str]:
    """Each run's TensorBoard folder, relative to the folder given to `embtui export
    --format tensorboard` (or the experiment's `tensorboard_dir`): `<name>-<id>/<run>`."""
    from embtui.config import varied_keys
    from embtui.export.tensorboard import experiment_folder, run_folders

    out: dict[int, str] = {}
    for exp in report.experiments or (report.experiment,):
        runs = [r.run for r in report.runs if r.run.experiment_id == exp.id]
        epochs = {r.run.id: r.epochs for r in report.runs if r.run.experiment_id == exp.id}
        top = experiment_folder("", exp).name
        for run_id, name in run_folders(runs, varied_keys(exp.config), epochs).items():
            out[run_id] = f"{top}/{name}"
    return out


def _run_dict(r: Any, folders: dict[int, str]) -> dict[str, Any]:
    return {
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
        "tensorboard": folders.get(r.run.id),
        **r.cost(),
        "epochs": [e.as_dict() for e in r.epochs],
    }


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
    return dumps_indented(report_dict(report)) + "\n"


def write_json(report: Report, handle: IO[bytes]) -> None:
    """`to_json(report)`, the same bytes, written to `handle` as they are made: each run's
    dict (with its epochs) is built, written and dropped in turn, and the text leaves in
    1 MB pieces, so a 10,000-run experiment never holds its whole JSON, or every epoch as a
    dict, in memory at once."""
    sink = _Sink(handle)
    flat: dict[str, Any] = {}
    sep = "\n  "
    sink.append("{")
    for key, value in report_dict(report, runs=False).items():
        sink.append(f"{sep}{_key(key)}: ")
        if key == "runs" and report.runs:
            item = "\n    "
            sink.append("[")
            folders = tensorboard_folders(report)
            for r in report.runs:
                sink.append(item)
                _emit(_run_dict(r, folders), "\n    ", sink, flat)
                item = ",\n    "
            sink.append("\n  ]")
        else:
            _emit(value, "\n  ", sink, flat)
        sep = ",\n  "
    sink.append("\n}\n")
    sink.flush()


class _Sink:
    """Collects JSON pieces and writes them to a binary handle about every megabyte (the
    text is ASCII: `ensure_ascii` escapes the rest)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.parts: list[str] = []
        self.size = 0

    def append(self, piece: str) -> None:
        self.parts.append(piece)
        self.size += len(piece)
        if self.size > 1 << 20:
            self.flush()

    def flush(self) -> None:
        self.handle.write("".join(self.parts).encode("ascii"))
        self.parts.clear()
        self.size = 0


_INF = float("inf")
#: Types `json` writes as a plain value; a dict or list holding only these is written by
#: its C encoder in one call.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def dumps_indented(value: Any) -> str:
    """`json.dumps(value, indent=2)`, the same text, several times faster.

    The standard library's C encoder does not indent, but it does take any item separator:
    a dict or list of plain values (an epoch, a run's factors) is written by it with
    `,` + newline + indentation between items, then given its opening and closing lines.
    Only the nesting above those is walked in Python."""
    out: list[str] = []
    _emit(value, "\n", out, {})
    return "".join(out)


def _emit(value: Any, pad: str, out: list[str] | _Sink, flat: dict[str, Any]) -> None:
    """Append `value` as JSON; `pad` is a newline and the current indentation; `flat`
    holds a C encoder per indentation."""
    is_dict = isinstance(value, dict)
    if not is_dict and not isinstance(value, (list, tuple)):
        out.append(_scalar(value))
        return
    if not value:
        out.append("{}" if is_dict else "[]")
        return
    inner = pad + "  "
    items = value.values() if is_dict else value
    if all(type(v) in _PLAIN for v in items) and (
        not is_dict or all(type(k) is str for k in value)
    ):
        encode = flat.get(inner)
        if encode is None:
            encode = flat[inner] = _flat_encoder("," + inner)
        text = encode(value)
        out.append(text[0] + inner + text[1:-1] + pad + text[-1])
        return
    out.append("{" if is_dict else "[")
    sep = inner
    if is_dict:
        for k, v in value.items():
            if type(v) in _PLAIN:
                out.append(f"{sep}{_key(k)}: {_scalar(v)}")
            else:
                out.append(f"{sep}{_key(k)}: ")
                _emit(v, inner, out, flat)
            sep = "," + inner
    else:
        for v in value:
            out.append(sep)
            _emit(v, inner, out, flat)
            sep = "," + inner
    out.append(pad + ("}" if is_dict else "]"))


def _flat_encoder(item_separator: str) -> Callable[[Any], str]:
    """The standard library's C encoder with this item separator (and `: `), made once:
    `JSONEncoder.encode` would make a new one for every epoch."""
    encoder = json.JSONEncoder(separators=(item_separator, ": "))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return encoder.encode
    c_encode = make(
        None,
        encoder.default,
        encode_basestring_ascii,
        None,
        ": ",
        item_separator,
        False,
        False,
        True,
    )
    return lambda value: "".join(c_encode(value, 0))


def _scalar(value: Any) -> str:
    """A string, number, boolean or null as `json.dumps` writes it (ensure_ascii, NaN)."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value == _INF:
            return "Infinity"
        if value == -_INF:
            return "-Infinity"
        return float.__repr__(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key: Any) -> str:
    """A dict key as `json.dumps` writes it: strings as they are; numbers, booleans and
    None as their JSON text, quoted."""
    if isinstance(key, str):
        return encode_basestring_ascii(key)
    if key is None or isinstance(key, (bool, int, float)):
        return encode_basestring_ascii(_scalar(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
