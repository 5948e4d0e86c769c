"""The `embtui` command: run, list and export experiments headless, or open the console.

Parsing stays thin and cheap: nothing here imports TensorFlow or Textual at module level, so
`embtui --help` answers at once. Every mistake a user can make (a bad flag, key, file or
experiment id) ends as one line on stderr and exit status 2, before anything is written.

Exit statuses (README's table): 0 done; 2 refused before anything was recorded (bad input,
an unreachable cluster, an experiment owned elsewhere, no room to start); 1 started and
could not finish (the store could not be written mid-grid, a run failed, workers or a node
died); 128 + N stopped by signal N.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from embtui import __version__
from embtui.config import EXECUTOR_KEYS, ExperimentConfig, config_keys, key_help, load_toml
from embtui.errors import EmbtuiError, Unfinished, printable
from embtui.export import FIGURE_CHOICES, FORMATS
from embtui.metrics import METRICS

if TYPE_CHECKING:
    from embtui.engine.events import Sink, StopFlag
    from embtui.store import Store

#: Refused before anything was recorded: a person (or script) can fix the command and retry.
EXIT_USAGE = 2
#: Started, recorded something, and could not finish: the experiment is resumable.
EXIT_UNFINISHED = 1


@contextlib.contextmanager
def _recorded(exp_id: int) -> Iterator[None]:
    """From here on the experiment is in the store: a failure is "started and could not
    finish" (exit 1), with how to finish it."""
    try:
        yield
    except Unfinished:
        raise  # already says what stopped it (a dead Ray node)
    except (EmbtuiError, sqlite3.Error) as exc:
        raise Unfinished(
            f"{exc}; experiment {exp_id} stopped unfinished "
            f"(embtui run --resume {exp_id} finishes it)"
        ) from exc


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"embtui: error: {printable(message)} (see: {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        metavar="PATH",
        help="run store (default: $EMBTUI_STORE or $XDG_DATA_HOME/embtui/embtui.sqlite)",
    )


#: The demo experiment that ships inside the package, with its reviews and vectors beside it.
DEMO_EXPERIMENT = Path(__file__).resolve().parent / "sample" / "demo.toml"

#: Shorter spellings of a few keys' flags, as users type them.
FLAG_ALIASES = {"tensorboard_dir": ("--tensorboard",)}


def _add_config_flags(
    p: argparse.ArgumentParser,
    keys: Sequence[str] | None = None,
    title: str = "experiment keys (override the file's)",
) -> None:
    group = p.add_argument_group(title)
    for key in config_keys() if keys is None else keys:
        group.add_argument(
            f"--{key.replace('_', '-')}",
            *FLAG_ALIASES.get(key, ()),
            dest=f"cfg_{key}",
            metavar="VALUE",
            help=key_help(key),
        )


def build_parser() -> argparse.ArgumentParser:
    """The `embtui` parser: each subcommand names its handler (`set_defaults(handler=...)`),
    so a subcommand is written in one place."""
    parser, _ = _parser_and_commands()
    return parser


def _parser_and_commands() -> tuple[argparse.ArgumentParser, list[str]]:
    parser = _Parser(
        prog="embtui",
        description="A terminal console for Keras text-classification embedding experiments. "
        "Without a subcommand it opens the console.",
    )
    parser.add_argument("--version", action="version", version=f"embtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    names: list[str] = []

    def command(name: str, handler: Any, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, **kw)
        p.set_defaults(handler=handler)
        names.append(name)
        return p

    run = command(
        "run",
        cmd_run,
        help="run an experiment headless and record it in the store",
        description="Runs an experiment headless and records it in the store. Progress goes to "
        "stderr (a live display on a terminal, else one line per epoch), the results (the "
        "verdicts) to stdout: `embtui run ... 2>/dev/null` prints only the results.",
    )
    run.add_argument("experiment", nargs="?", metavar="EXPERIMENT.toml")
    _add_store(run)
    run.add_argument("--plain", action="store_true", help="one log line per epoch, no live display")
    run.add_argument(
        "--resume",
        metavar="EXPERIMENT",
        help="finish an interrupted or cancelled experiment (an id or 'latest') instead",
    )
    _add_ray(run)
    _add_config_flags(run)

    demo = command(
        "demo",
        cmd_demo,
        help="run the offline demo: 2,000 real IMDB reviews that ship with embtui",
        description="embtui run on the demo experiment inside the package "
        f"({DEMO_EXPERIMENT.name}): works offline, from any folder.",
    )
    _add_store(demo)
    demo.add_argument("--plain", action="store_true", help="one log line per epoch")
    _add_ray(demo)
    _add_config_flags(demo)

    lst = command(
        "list",
        cmd_list,
        help="experiments, one line each; or one experiment's runs",
        description="One line per experiment (id, name, status, runs done/total, created); "
        "with EXPERIMENT, that experiment's runs. Plain columns; --json or --csv for scripts.",
    )
    lst.add_argument(
        "experiment", nargs="?", metavar="EXPERIMENT", help="an experiment id or 'latest'"
    )
    form = lst.add_mutually_exclusive_group()
    form.add_argument("--json", dest="list_format", action="store_const", const="json")
    form.add_argument("--csv", dest="list_format", action="store_const", const="csv")
    _add_store(lst)

    exp = command(
        "export",
        cmd_export,
        help="an experiment's comparison summary, printed to stdout (-o FILE writes a file)",
        description="Prints the experiment's comparison summary to stdout, for a script or a "
        "pipe; -o FILE writes it to a file instead. (The console's e always writes a file, "
        "embtui-<name>-<id>.<ext> in the folder it was started from.)",
    )
    exp.add_argument(
        "experiment",
        metavar="EXPERIMENT",
        help="an experiment id or 'latest'; several, comma-separated (3,5 or latest,4), "
        "are compared as one pool",
    )
    exp.add_argument(
        "--format",
        choices=tuple(FORMATS),
        default="md",
        help="; ".join(f"{name}: {what}" for name, what in FORMATS.items()),
    )
    exp.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="write here instead of stdout ('-' is stdout; a folder for tensorboard)",
    )
    exp.add_argument(
        "--metric",
        choices=METRICS,
        default="final",
        help="per-run value compared: final-epoch, best-epoch, or at lowest val_loss (final)",
    )
    exp.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    exp.add_argument(
        "--figures",
        choices=FIGURE_CHOICES,
        help="md and html: the figures as svg (the default), png (for Word and PDF) or none; "
        "md with -o REPORT.md writes them into REPORT-figures/ beside it",
    )
    exp.add_argument(
        "--figures-dir",
        metavar="DIR",
        help="md: write the figures into DIR (to stdout, figures are written only with this)",
    )
    _add_store(exp)

    res = command("resume", cmd_resume, help="finish an interrupted or cancelled experiment")
    res.add_argument("experiment", metavar="EXPERIMENT", help="an experiment id or 'latest'")
    _add_store(res)
    res.add_argument("--plain", action="store_true", help="one log line per epoch")
    _add_ray(res)
    _add_config_flags(res, EXECUTOR_KEYS, "where to train (the rest is as recorded)")

    doc = command(
        "doctor", cmd_doctor, help="check this box: TensorFlow, GPUs, data, GloVe, store, terminal"
    )
    doc.add_argument(
        "experiment", nargs="?", metavar="EXPERIMENT.toml", help="check for this experiment"
    )
    _add_store(doc)
    _add_ray(doc, "also check this Ray cluster (auto: the one running here): nodes, CPUs, GPUs")
    doc.add_argument(
        "--warm",
        action="store_true",
        help="first compile the fused training kernel into embtui's cache (a few seconds, once)",
    )

    tui = command("tui", cmd_tui, help="open the console (the default)")
    tui.add_argument("experiment", nargs="?", metavar="EXPERIMENT.toml")
    _add_store(tui)

    rm = command("rm", cmd_rm, help="delete an experiment with its runs and epochs (asks)")
    rm.add_argument("experiment", metavar="EXPERIMENT", help="an experiment id or 'latest'")
    rm.add_argument(
        "-y", "--yes", action="store_true", help="do not ask (needed without a terminal)"
    )
    _add_store(rm)

    inspect = command(
        "inspect",
        cmd_inspect,
        help="what a finished run learned: its words, its reviews, files for the projector",
        description="Reads a run's kept weights and validation logits (nothing trains). "
        "RUN is a run id as the console and `embtui list ID` show it.",
    )
    inspect.add_argument("run", metavar="RUN", type=_run_id, help="a run id")
    inspect.add_argument(
        "--word",
        dest="words",
        action="append",
        metavar="WORD",
        help="show this word's nearest neighbours (repeat for several; default: a few "
        "common review words)",
    )
    inspect.add_argument(
        "--against",
        action="append",
        default=[],
        type=_run_id,
        metavar="RUN",
        help="another run to set beside it: its neighbours, and the reviews the two disagree on",
    )
    inspect.add_argument(
        "--projector",
        metavar="DIR",
        help="write the runs' tables for TensorBoard's Embedding Projector into DIR",
    )
    _add_store(inspect)

    rename = command("rename", cmd_rename, help="give an experiment another name")
    rename.add_argument("experiment", metavar="EXPERIMENT", help="an experiment id or 'latest'")
    rename.add_argument("name", metavar="NAME", help="the new name")
    _add_store(rename)
    comp = command(
        "completion",
        cmd_completion,
        help="print the shell completion script for bash or zsh",
        description="Prints a completion script for embtui's commands, flags and their choices, "
        'generated from this parser (shtab). bash: eval "$(embtui completion bash)" in '
        "~/.bashrc, or save it as ~/.local/share/bash-completion/completions/embtui; zsh: save "
        "it as _embtui in a folder on $fpath (before compinit).",
    )
    comp.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    return parser, names


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _mistyped_command(word: str, commands: Sequence[str]) -> str | None:
    """What to say when `embtui WORD` is neither a subcommand nor an experiment file for the
    console: a word without the .toml suffix that names no file is a mistyped command
    (`embtui lsit`), not a missing experiment file. None when WORD may be meant as a file
    (or is an option)."""
    if word.startswith("-") or word.lower().endswith(".toml") or Path(word).exists():
        return None
    import difflib

    close = difflib.get_close_matches(word, list(commands), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"unknown command '{printable(word)}'{hint}; the commands: {', '.join(commands)} "
        "(an experiment file for the console ends in .toml)"
    )


#: Subcommands that train (and so import TensorFlow, whose start-up notices are filtered).
_TRAINING = ("run", "demo", "resume")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _parser_and_commands()
    if not args_list or (
        args_list[0] not in commands and args_list[0] not in ("-h", "--help", "--version")
    ):
        mistyped = _mistyped_command(args_list[0], commands) if args_list else None
        if mistyped is not None:
            sys.stderr.write(f"embtui: error: {mistyped}\n")
            return EXIT_USAGE
        args_list = ["tui", *args_list]
    args = parser.parse_args(args_list)
    try:
        if args.command in _TRAINING or getattr(args, "format", "") == "tensorboard":
            from embtui.quiet import tensorflow_notices_filtered

            with tensorflow_notices_filtered():
                return int(args.handler(args))
        return int(args.handler(args))
    except EmbtuiError as exc:
        sys.stderr.write(f"embtui: error: {printable(str(exc))}\n")
        return int(getattr(exc, "exit_status", EXIT_USAGE))  # Unfinished: 1
    except KeyboardInterrupt:
        sys.stderr.write("embtui: interrupted\n")
        return 130
    except sqlite3.Error as exc:  # a store fault outside a write (a corrupt page on read)
        sys.stderr.write(f"embtui: error: run store: {printable(str(exc))}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        # Whoever read our output stopped reading (`| head`): say so with the status a
        # process killed by SIGPIPE has, never success.
        _detach_from_terminal(stderr=False)
        return 128 + signal.SIGPIPE


def entry() -> NoReturn:
    """The `embtui` console script and `python -m embtui`.

    After training, TensorFlow's teardown at interpreter exit takes about a second and does
    nothing embtui needs: by then every result is committed to the store, the store is
    closed and the output is flushed. So a process that imported TensorFlow leaves at once.
    """
    code = main()
    try:
        sys.stdout.flush()  # the results, still in the buffer when stdout is a pipe
    except BrokenPipeError:  # whoever read them left (`| head`): as main() says it
        _detach_from_terminal(stderr=False)
        code = code or 128 + signal.SIGPIPE
    if "tensorflow" in sys.modules:
        with contextlib.suppress(OSError):
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _add_ray(p: argparse.ArgumentParser, text: str | None = None) -> None:
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help=text
        or "train on a Ray cluster: ADDRESS is a running one (auto: the one on this machine, "
        "or HOST:6379); without it, embtui starts Ray here (pip install 'embtui[ray]')",
    )


def ray_overrides(args: argparse.Namespace) -> dict[str, str]:
    """`--ray [ADDRESS]` as the configuration keys it stands for; `--ray` alone is Ray
    started on this machine, whatever address a file or an earlier run recorded."""
    given = getattr(args, "ray", None)
    if given is None:
        return {}
    if getattr(args, "cfg_cluster", None) not in (None, "ray"):
        raise EmbtuiError(f"--ray and --cluster {args.cfg_cluster}: give one of them")
    return {"cluster": "ray", "ray_address": given}


def executor_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The keys a resume may change (where runs train), as given by flags and `--ray`."""
    given = {k: getattr(args, f"cfg_{k}") for k in EXECUTOR_KEYS}
    return {**{k: v for k, v in given.items() if v is not None}, **ray_overrides(args)}


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    overrides = {
        key: getattr(args, f"cfg_{key}")
        for key in config_keys()
        if getattr(args, f"cfg_{key}", None) is not None
    }
    overrides.update(ray_overrides(args))
    if args.experiment:
        return load_toml(args.experiment, overrides)
    from embtui.config import from_mapping

    return from_mapping(overrides)


def _open_store(args: argparse.Namespace, *, create: bool = True, reading: bool = False) -> Store:
    """The run store named by --store. A `reading` command (list, export) never upgrades
    a store of an older schema: an older embtui may be training in it."""
    from embtui.store import Store

    return Store(args.store, create=create, migrate=not reading)


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        given = [k for k in config_keys() if getattr(args, f"cfg_{k}", None) is not None]
        if args.experiment or set(given) - set(EXECUTOR_KEYS):
            where = ", ".join(f"--{k.replace('_', '-')}" for k in EXECUTOR_KEYS)
            raise EmbtuiError(
                "--resume finishes an experiment with the configuration it was started with; "
                f"it takes no EXPERIMENT.toml or --KEY flags except where to train (--ray, {where})"
            )
        args.experiment = args.resume
        return cmd_resume(args)
    config = config_from_args(args)  # a bad key or value fails here, before any slow import
    from embtui.engine import runner
    from embtui.progress import make_reporter
    from embtui.quiet import progress_stream

    progress = progress_stream()  # stderr: `2>/dev/null` keeps only the results
    reporter = make_reporter(plain=args.plain or not progress.isatty(), stream=progress)
    prepared = runner.prepare(config, sink=reporter)  # bad input stops here: no store yet
    with _open_store(args) as store:
        session = runner.Session.new(store, prepared)
        exp_id = session.experiment_id
        with _recorded(exp_id):
            print(
                f"experiment {exp_id}: {printable(config.name)} "
                f"({_count(len(config.run_cells()), 'run')}) in {printable(str(store.path))}",
                file=progress,  # before the reporter's lines; stdout: the results
                flush=True,
            )
            if others := store.namesakes(exp_id):  # allowed: ids tell them apart
                ids = ", ".join(f"#{i}" for i in others)
                print(
                    f"note: experiment {exp_id} has the name of {ids}: the ids tell them "
                    f"apart (embtui rename {exp_id} NAME renames it)",
                    file=progress,
                    flush=True,
                )
            reporter.count_from(store, exp_id)  # epochs per run, runs done: as stored
            stopped_by = _train(session.train, reporter)
            return _finish(store, exp_id, stopped_by)


def cmd_demo(args: argparse.Namespace) -> int:
    args.experiment, args.resume = str(DEMO_EXPERIMENT), None
    return cmd_run(args)


def cmd_resume(args: argparse.Namespace) -> int:
    from embtui.engine import runner
    from embtui.engine.executors.ray_connect import ClusterUnavailable
    from embtui.progress import make_reporter
    from embtui.quiet import progress_stream
    from embtui.store import AlreadyDone

    executor = executor_overrides(args)  # where to train: checked before the store opens
    with _open_store(args, create=False) as store:
        store.recover()
        exp_id = store.resolve(args.experiment)
        exp = store.experiment(exp_id)
        progress = progress_stream()  # stderr: `2>/dev/null` keeps only the results
        reporter = make_reporter(plain=args.plain or not progress.isatty(), stream=progress)
        try:
            # Claims the experiment first (refused while another process trains it), then
            # loads its data and checks it is what the experiment started with.
            session = runner.Session.resumed(store, exp_id, reporter, executor=executor)
        except AlreadyDone:
            print(f"experiment {exp_id} is already done")
            return 0
        except ClusterUnavailable as exc:
            if executor:
                raise
            raise EmbtuiError(  # the cluster it trained on is gone: say where else it can go
                f"{exc}; to finish experiment {exp_id} elsewhere: embtui resume {exp_id} "
                "--cluster local (this machine), or --ray ADDRESS (another cluster)"
            ) from None
        with _recorded(exp_id):
            print(f"resuming experiment {exp_id}: {printable(exp.name)}", file=progress, flush=True)
            reporter.count_from(store, exp_id)  # epochs per run, runs done: as stored
            stopped_by = _train(session.train, reporter)
            return _finish(store, exp_id, stopped_by)


def _finish(store: Store, exp_id: int, stopped_by: int | None) -> int:
    """Print the summary; exit 128 + signal when a signal stopped the grid, as shells expect."""
    status = store.experiment(exp_id).status
    if stopped_by != signal.SIGHUP:  # nobody is left to read it
        _print_summary(store, exp_id)
    if stopped_by is not None:
        if stopped_by != signal.SIGHUP:
            print(f"stopped: resume with embtui run --resume {exp_id}", file=sys.stderr)
        return 128 + stopped_by
    return 0 if status == "done" else 1


def _train(train: Callable[[Sink, StopFlag], str], reporter: Any) -> int | None:
    """Run `train` (a `Session`'s); returns the signal that stopped it, or None if it ran
    to its end.

    Ctrl-C (SIGINT), a closing SSH session (SIGHUP) and `kill` (SIGTERM) all stop cleanly
    after the current epoch: the epochs so far stay in the store and the runs left are
    `cancelled`, ready for `--resume`. A second signal aborts at once (the run in progress
    is then `interrupted`). Under nohup SIGHUP is ignored, and stays ignored.
    """
    from embtui.engine.events import EpochMetrics

    stop = threading.Event()
    received: list[int] = []
    warming: list[threading.Thread] = []

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()
        if signum == signal.SIGHUP:
            _detach_from_terminal()
        else:
            sys.stderr.write("\nembtui: stopping after this epoch (Ctrl-C again to abort)\n")

    def sink(event: Any) -> None:
        """The reporter (on stderr); a reader of the progress that went away
        (`2>&1 | head`) stops the grid like a signal."""
        from embtui.quiet import stderr_reader_gone

        if signal.SIGPIPE in received:
            return
        if not warming and isinstance(event, EpochMetrics):
            warming.append(_import_aside("embtui.report.model"))
        try:
            reporter(event)
            gone = stderr_reader_gone()
        except BrokenPipeError:
            gone = True
        if gone:  # nobody sees the progress any more, nor a message about it
            received.append(signal.SIGPIPE)
            stop.set()
            _detach_stderr()

    handled = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # nohup asked for it to be ignored
        handled.append(signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    try:
        with reporter:
            train(sink, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0] if received else None


def _import_aside(module: str) -> threading.Thread:
    """Import `module` on a side thread, for later use.

    The summary printed at the end of a grid needs scipy.stats, about 0.5 s of imports.
    Once the first epoch is in (TensorFlow imported, the graphs traced), training spends
    its time in TensorFlow's kernels, which release the GIL, so the import overlaps with
    it instead of holding up the summary. A failure is left for the summary's own import
    to report."""

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    thread = threading.Thread(target=load, name="import-aside", daemon=True)
    thread.start()
    return thread


def _detach_from_terminal(*, stderr: bool = True) -> None:
    """After a hangup the terminal is gone (or, with a closed pipe, the reader of stdout):
    writing to it would fail, so write nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2) if stderr else (1,):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def _detach_stderr() -> None:
    """The reader of the progress (stderr) left: from now on stderr writes nowhere, the real
    one behind the TensorFlow-notice filter included, so no later line fails or blocks.
    stdout, with the results, may still have its reader (a file)."""
    from embtui.quiet import unfiltered_stderr

    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in {2, unfiltered_stderr()}:
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def _print_summary(store: Any, exp_id: int) -> None:
    from embtui.progress import print_summary
    from embtui.report.model import build_report

    print_summary(build_report(store, exp_id))


def cmd_list(args: argparse.Namespace) -> int:
    from embtui.listing import print_listing

    with _open_store(args, create=False, reading=True) as store:
        store.recover()
        print_listing(store, args.experiment, args.list_format or "text")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from embtui.export import render
    from embtui.report.model import build_report

    if not 0 < args.alpha < 1:
        raise EmbtuiError(f"--alpha {args.alpha}: must be between 0 and 1")
    if args.output == "-":  # the usual Unix word for stdout, never a file named '-'
        args.output = None
    if args.format == "tensorboard" and not args.output:
        raise EmbtuiError("--format tensorboard writes a folder of event files: add -o DIR")
    _check_figure_flags(args)
    with _open_store(args, create=False, reading=True) as store:
        ids = [store.resolve(ref) for ref in _experiment_refs(args.experiment)]
        exp_id = ids[0]
        if args.format == "tensorboard":
            if len(ids) > 1:
                raise EmbtuiError("--format tensorboard writes one experiment's runs: give one id")
            from embtui.export import export_tensorboard

            try:
                folder = export_tensorboard(store, exp_id, args.output)
            except OSError as exc:
                raise EmbtuiError(f"{args.output}: cannot write ({exc.strerror})") from None
            print(f"wrote {printable(str(folder))}", file=sys.stderr)
            return 0
        report = build_report(
            store, ids, metric=args.metric, alpha=args.alpha, learned=args.format in ("md", "html")
        )
    figures_dir = _figures_dir(args)
    if figures_dir is not None:
        from embtui.export import markdown_with_figures

        markdown_dir = Path(args.output).parent if args.output else Path.cwd()
        fmt = args.figures or "svg"
        text = markdown_with_figures(report, figures_dir, markdown_dir, fmt)
        print(f"wrote {printable(str(figures_dir))}{os.sep}", file=sys.stderr)
    elif args.format == "json":  # written as it is made: a 10,000-run export stays small
        from embtui.export.json import write_json

        if args.output:
            from embtui.files import write_atomically

            write_atomically(Path(args.output), lambda handle: write_json(report, handle))
            print(f"wrote {printable(args.output)}", file=sys.stderr)
        else:
            sys.stdout.flush()
            write_json(report, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return 0
    else:
        text = render(report, args.format, figures=args.figures or "svg")
    if args.output:
        from embtui.files import write_atomically

        write_atomically(Path(args.output), text)
        print(f"wrote {printable(str(args.output))}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _check_figure_flags(args: argparse.Namespace) -> None:
    """`--figures` and `--figures-dir` only where figures go, and never both none and a DIR."""
    if args.format not in ("md", "html") and (args.figures or args.figures_dir):
        flag = "--figures-dir" if args.figures_dir else "--figures"
        raise EmbtuiError(f"{flag}: only --format md and html have figures")
    if args.figures_dir and args.format == "html":
        raise EmbtuiError("--figures-dir: --format html has its figures inside the file")
    if args.figures_dir and args.figures == "none":
        raise EmbtuiError("--figures-dir with --figures none: choose one")


def _figures_dir(args: argparse.Namespace) -> Path | None:
    """Where a Markdown export's figures go: --figures-dir, else `REPORT-figures/` beside a
    `-o REPORT.md` file; none to stdout (or a terminal, a pipe) or with --figures none."""
    if args.format != "md" or args.figures == "none":
        return None
    if args.figures_dir:
        return Path(args.figures_dir)
    if not args.output:
        return None
    from embtui.export import figures_folder

    output = Path(args.output)
    if output.is_dir():
        raise EmbtuiError(f"{output}: a folder; give a file name")
    if output.exists() and not output.is_file():
        return None  # -o /dev/stdout: a stream, like stdout itself
    if not output.parent.is_dir():
        raise EmbtuiError(f"{output}: cannot write (no folder {output.parent})")
    return figures_folder(output)


def _experiment_refs(text: str) -> list[str]:
    """`3`, `latest`, or several comma-separated (`3,5`, `latest,4`)."""
    refs = [part.strip() for part in text.split(",")]
    if not all(refs):
        raise EmbtuiError(f"experiment {text!r}: expected ids or 'latest', comma-separated")
    return refs


def cmd_doctor(args: argparse.Namespace) -> int:
    from embtui.doctor import run_doctor

    config = load_toml(args.experiment) if args.experiment else ExperimentConfig()
    if args.warm:
        from embtui.engine import fused

        if not fused.numba_available():
            raise EmbtuiError("--warm: numba is not installed (pip install numba)")
        if not fused.config_is_warm(config):
            print(fused.COMPILING, file=sys.stderr, flush=True)
        fused.warm_kernel(config)
    return run_doctor(config, args.store, ray=args.ray)


def cmd_rm(args: argparse.Namespace) -> int:
    """`embtui rm ID`: delete an experiment, its runs, epochs and checkpoints (asks first)."""
    with _open_store(args, create=False) as store:
        store.recover()  # a killed owner is not "being trained"
        exp_id = store.resolve(args.experiment)
        exp = store.experiment(exp_id)
        runs = len(store.runs(exp_id))
        what = f"experiment {exp_id} '{printable(exp.name)}' ({exp.status}, {runs} runs)"
        if not args.yes:
            if not sys.stdin.isatty():
                raise EmbtuiError(f"embtui rm {exp_id}: not a terminal to ask; add --yes to delete")
            try:
                answer = input(f"delete {what} and its epochs? this cannot be undone [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 0
        store.delete_experiment(exp_id)
    print(f"deleted {what}")
    return 0


def _run_id(text: str) -> int:
    """A run id from the command line (a usage error, exit 2, when it is none)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"a run id is a whole number from 1, as `embtui list ID` shows, not {text!r}"
        )
    return value


def cmd_inspect(args: argparse.Namespace) -> int:
    """`embtui inspect RUN`: a run's words and reviews, from what it kept (see
    embtui.inspect)."""
    from embtui.inspect.projector import ProjectorTable, write_projector
    from embtui.inspect.text import DEFAULT_PROBES, reviews_report, words_report
    from embtui.inspect.view import load_run

    projector = Path(args.projector).expanduser() if args.projector else None
    if projector is not None:  # a folder that cannot be written is said before the report
        try:
            projector.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbtuiError(
                f"--projector {args.projector}: cannot write ({exc.strerror})"
            ) from None
        if not os.access(projector, os.W_OK | os.X_OK):
            raise EmbtuiError(f"--projector {args.projector}: not writable for this user")
    with _open_store(args, create=False, reading=True) as store:
        view = load_run(store, args.run)
        others = [load_run(store, run_id) for run_id in args.against]
    lines = words_report(view, args.words or DEFAULT_PROBES, others=others)
    lines += ["", *reviews_report(view, others[0] if others else None)]
    print("\n".join(lines))
    if projector is not None:
        tables = [
            ProjectorTable(
                f"{v.label} ({v.experiment_id})", f"run-{v.run_id}", v.table, v.words, v.scores()
            )
            for v in (view, *others)
            if v.table is not None
        ]
        if not tables:
            raise EmbtuiError(f"run {args.run} kept no embedding table for the projector")
        try:
            written = write_projector(projector, tables)
        except OSError as exc:
            raise EmbtuiError(f"{args.projector}: cannot write ({exc.strerror})") from None
        print(
            f"wrote {len(written)} files to {printable(str(written[-1].parent))}; "
            f"open them with: tensorboard --logdir {printable(str(written[-1].parent))}",
            file=sys.stderr,
        )
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    """`embtui rename ID NAME`: the experiment's name in lists, the console and exports."""
    from embtui.config import check_name

    check_name(args.name)
    with _open_store(args, create=False) as store:
        exp_id = store.resolve(args.experiment)
        old = store.experiment(exp_id).name
        store.rename_experiment(exp_id, args.name)
    print(f"experiment {exp_id}: '{printable(old)}' is now '{printable(args.name)}'")
    return 0


#: Arguments whose values are paths, by metavar: completed as files (or folders) by the shell.
_PATH_METAVARS = {"EXPERIMENT.toml": "file", "PATH": "file", "DIR": "directory"}


def cmd_completion(args: argparse.Namespace) -> int:
    """`embtui completion bash|zsh`: the script shtab generates from this very parser, so
    every subcommand, flag and choice completes as `--help` lists it."""
    import shtab

    parser = build_parser()
    kinds = {"file": shtab.FILE, "directory": shtab.DIRECTORY}
    for each in [parser, *_subparsers(parser)]:
        for action in each._actions:
            kind = _PATH_METAVARS.get(str(action.metavar))
            if kind is not None:
                action.complete = kinds[kind]  # type: ignore[attr-defined]
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return 0


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    return [
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for sub in action.choices.values()
    ]


def cmd_tui(args: argparse.Namespace) -> int:
    config = load_toml(args.experiment) if args.experiment else None
    try:
        from embtui.app.app import run_console
    except ImportError:
        sys.stderr.write("embtui: the console is not available in this build; use embtui run\n")
        return EXIT_USAGE
    return run_console(config=config, store_path=args.store, cwd=Path(os.getcwd()))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
