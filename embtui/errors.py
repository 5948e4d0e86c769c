"""Errors that users cause and can fix.

Every exception derived from `EmbtuiError` carries a one-line message meant for a person at
a terminal: the CLI prints it on stderr and exits with status 2, without a traceback. Keep
messages to one line that names the thing (key, file, line) and what is allowed.
"""

from embtui.escape import terminal


class EmbtuiError(Exception):
    """A problem with the user's input or environment, reported in one line."""


class ConfigError(EmbtuiError):
    """An experiment configuration key has an unknown name, wrong type or bad value."""


class DataError(EmbtuiError):
    """A dataset could not be read or does not have the expected shape."""


class GloveError(EmbtuiError):
    """GloVe vectors could not be found or parsed."""


class StoreError(EmbtuiError):
    """The run store cannot be opened or does not hold what was asked for."""


class Unfinished(EmbtuiError):
    """Training started (the experiment is recorded) and could not go on: the Ray node it
    ran on died, say. One line like any EmbtuiError, but exit status 1, not 2: the
    command was right, the world under it broke; the experiment is resumable."""

    exit_status = 1


def one_line(exc: BaseException) -> str:
    """`Type: message` on one line (at most 500 characters), for a failed run's error column."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def printable(text: str) -> str:
    """`text` with its control, bidi and invisible characters (ESC, BEL, CR, NUL, U+202E,
    ...) written as escapes: `embtui.escape.terminal`, kept here under the name the CLI
    and the console have always imported.

    Names come from experiment files, stores and scripts; printed raw, an ESC sequence in
    one could recolour or clear the user's terminal and a CR could hide what precedes it.
    """
    return terminal(text)
