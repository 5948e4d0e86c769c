"""The store's schema, as the ordered list of steps that built it.

A store at version k (SQLite's `user_version`) runs the steps after k, all in one exclusive
transaction (`Connection._migrate`). Each step is frozen as shipped: it names no live table
of embtui (no factor list, no constant it might later change), so a store upgraded by any
later embtui ends up as that version's embtui left it. Append new steps; never edit one.

A step written in SQL alone is an `SQL`: its statements, executed one by one inside the
migration's transaction (`executescript` would commit that transaction first). It is also
the script itself, as a string, for a tool or a test that builds a store of an old version.
A step that computes values is a function of the connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple


class SQL(str):
    """A migration step of SQL statements, run one by one; as a string, the whole script."""

    statements: tuple[str, ...]

    def __new__(cls, *statements: str) -> SQL:
        step = super().__new__(cls, ";\n".join(statements) + ";\n")
        step.statements = statements
        return step

    def __call__(self, db: sqlite3.Connection) -> None:
        for statement in self.statements:
            db.execute(statement)


class Migration(NamedTuple):
    """One step of the schema: its name and what it does to a connection in a transaction."""

    name: str
    step: Callable[[sqlite3.Connection], None]


#: v1: experiments, runs and their epochs.
v1_experiments_runs_epochs = SQL(
    """
CREATE TABLE experiments (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    config    TEXT NOT NULL,
    created   TEXT NOT NULL,
    finished  TEXT,
    status    TEXT NOT NULL DEFAULT 'queued',
    pid       INTEGER,
    host      TEXT,
    meta      TEXT NOT NULL DEFAULT '{}'
)""",
    """
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    embedding     TEXT NOT NULL,
    head          TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'queued',
    error         TEXT,
    device        TEXT,
    params        INTEGER,
    coverage      REAL,
    started       TEXT,
    finished      TEXT
)""",
    """
CREATE INDEX runs_by_experiment ON runs(experiment_id, position)""",
    """
CREATE TABLE epochs (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch    INTEGER NOT NULL,
    loss     REAL NOT NULL,
    acc      REAL NOT NULL,
    val_loss REAL NOT NULL,
    val_acc  REAL NOT NULL,
    seconds  REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
)""",
)

#: v2: tells a live owner from a dead one when it runs on another host.
v2_heartbeat = SQL("ALTER TABLE experiments ADD COLUMN heartbeat TEXT")

#: v3: which Store connection (process) may write an experiment's runs: claimed in one
#: transaction, so two resumes can never both train it.
v3_owner_token = SQL("ALTER TABLE experiments ADD COLUMN owner TEXT")

#: v4: what a run cost and how busy the box was (embtui.sysmetrics).
v4_samples_and_run_cost = SQL(
    """
        CREATE TABLE samples (
            experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
            t         REAL NOT NULL,
            device    TEXT NOT NULL,
            name      TEXT NOT NULL,
            util      REAL,
            mem_used  REAL,
            mem_total REAL,
            temp      REAL,
            power     REAL,
            rss       REAL
        )""",
    "CREATE INDEX samples_by_device ON samples(experiment_id, device, t)",
    "ALTER TABLE runs ADD COLUMN wall_s REAL",
    "ALTER TABLE runs ADD COLUMN peak_rss REAL",
    "ALTER TABLE runs ADD COLUMN peak_gpu_mem REAL",
    "ALTER TABLE runs ADD COLUMN mean_gpu_util REAL",
)


def v5_record_factors(db: sqlite3.Connection) -> None:
    """v5: each run's factor values, from its experiment's configuration (scalars then)
    and the run's own embedding and head. A user's recorded fit has just those two.

    The factor keys and the callback's source are those of v5, written out here."""
    factor_keys = (
        *("embeddings", "head", "optimizer", "learning_rate", "embedding_dim"),
        *("batch_size", "epochs", "maxlen", "vocab_size"),
    )
    callback_source = "keras-callback"

    db.execute("ALTER TABLE runs ADD COLUMN factors TEXT")
    configs: dict[int, dict[str, Any]] = {}
    for exp_id, text in db.execute("SELECT id, config FROM experiments").fetchall():
        try:
            config = json.loads(text)
        except ValueError:
            config = {}
        configs[exp_id] = config if isinstance(config, dict) else {}
    runs = db.execute("SELECT id, experiment_id, embedding, head FROM runs").fetchall()
    for run_id, exp_id, embedding, head in runs:
        config = configs.get(exp_id, {})
        factors: dict[str, Any] = {}
        if config.get("source") != callback_source:
            for key in factor_keys:
                value = config.get(key)
                if isinstance(value, list):
                    value = value[0] if value else None
                if value is not None:
                    factors[key] = value
        factors.update(embeddings=embedding, head=head)
        db.execute("UPDATE runs SET factors = ? WHERE id = ?", (json.dumps(factors), run_id))


def v6_ids_never_reused(db: sqlite3.Connection) -> None:
    """v6: experiment and run ids are never given out twice. SQLite's `INTEGER PRIMARY KEY`
    takes the largest id plus one, so deleting the newest experiment handed its id (and its
    runs' ids, which name checkpoints) to the next one, and an export or a note saying "9"
    pointed at another experiment. A table keeps the highest id each has had; inserts take
    the next one from it and triggers keep it up to date. (AUTOINCREMENT would need the
    tables rebuilt, which foreign keys turn into a cascade of deletes.) Ids deleted before
    this step cannot be known; the highest present is the start."""
    db.execute("CREATE TABLE id_high_water (tbl TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    for table in ("experiments", "runs"):
        db.execute(
            f"INSERT INTO id_high_water (tbl, value) "
            f"SELECT '{table}', coalesce(max(id), 0) FROM {table}"
        )
        db.execute(
            f"CREATE TRIGGER {table}_high_water AFTER INSERT ON {table} BEGIN "
            f"UPDATE id_high_water SET value = max(value, NEW.id) WHERE tbl = '{table}'; END"
        )


#: Every step, in order: step k takes a store from version k-1 to version k.
MIGRATIONS: tuple[Migration, ...] = (
    Migration("v1: experiments, runs and their epochs", v1_experiments_runs_epochs),
    Migration("v2: a heartbeat per experiment", v2_heartbeat),
    Migration("v3: an owner token per experiment", v3_owner_token),
    Migration("v4: system samples and each run's cost", v4_samples_and_run_cost),
    Migration("v5: every factor value of each run, for sweeps over any setting", v5_record_factors),
    Migration("v6: ids never given out twice", v6_ids_never_reused),
)
SCHEMA_VERSION = len(MIGRATIONS)


def upgrade(db: sqlite3.Connection, version: int) -> None:
    """Inside the caller's transaction: run the steps after `version`, then record the
    version reached."""
    for migration in MIGRATIONS[version:]:
        migration.step(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
