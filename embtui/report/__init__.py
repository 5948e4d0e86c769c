"""The report: what embtui says about an experiment (or a pool of them), read once from the
store, before any view writes it.

* `model`: `build_report` and the `Report` it returns (runs grouped into arms, per-cell
  summaries, comparisons, main effects), the one object every view renders;
* `duplicates`: which runs are the same computation, so that each counts once;
* `verdicts`: which comparisons answer "which arm is better at each size", and how every
  view writes their numbers.

The console (compare screen, charts, summary table), `embtui run`'s closing summary and the
writers in `embtui.export` (Markdown, HTML, CSV, JSON, figures) all read from here; nothing
here knows how a report is written. Importing the package is cheap: scipy loads with
`model` (through `embtui.stats`), when a report is first built.
"""
