"""Text from users and data files, made safe for the place it lands: one function per place.

Experiment names, arm and head strings given to `EmbtuiCallback`, factor values, dataset and
GloVe paths, Ray addresses, CSV headers and the error messages that quote them all reach
embtui from outside. Written raw, they can act instead of being read: an ESC or OSC sequence
rewrites the terminal (or, through OSC 52, the clipboard), a bidi override shows
`safe\\u202edelete-me` reversed, a `|` splits a Markdown table, `<img onerror=...>` runs in a
viewer that renders unsanitised Markdown, `=HYPERLINK(...)` runs in a spreadsheet, and
`[@click=app.quit]` becomes a console action. Every writer of such text calls the function
for its destination:

- `terminal`: a line on a terminal (stdout, stderr, Rich tables); `terminal_lines` for
  several lines;
- `markdown_text` and `markdown_cell`: Markdown prose, headings and table cells;
- `html`: HTML text and attribute values;
- `csv_cell`: a text cell of a CSV file a spreadsheet may open;
- `rich_text`: a Rich `Text` that neither Rich nor Textual parses as markup (Rich consoles,
  Textual widgets, border titles, notifications);
- `clipboard`: the plain text the console copies (OSC 52).

Each starts from `terminal` (control and invisible characters made visible), so a string
reads the same wherever it lands. This module imports nothing beyond the standard library
(Rich only inside `rich_text`), so every part of embtui can use it.
"""

from __future__ import annotations

import html as _html
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

#: Bidirectional controls: embeddings, overrides and isolates (U+202A-202E, U+2066-2069)
#: and the directional marks (U+200E, U+200F, U+061C). Shown, never obeyed: an override
#: makes `safe\u202edelete-me` read as something else.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
#: Invisible characters that are part of how a script is written, kept as they are: the
#: zero-width non-joiner (U+200C) of Persian and other scripts, and the zero-width joiner
#: (U+200D) of Indic scripts and emoji sequences.
KEPT_INVISIBLE = frozenset("\u200c\u200d")
#: Unicode categories never written raw: controls (Cc: ESC, BEL, CR, NUL, C1), format
#: characters (Cf: bidi controls, zero-width space, BOM, ...), line and paragraph
#: separators, surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
#: First characters a spreadsheet reads as the start of a formula (or, tab and CR, that
#: some spreadsheets strip before looking for one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Markdown characters that start or end inline syntax (emphasis, code spans, links and
#: images, table cells, a heading's closing sequence, GFM strikethrough) and the backslash
#: itself. An underscore between two letters or digits is left alone: it cannot start
#: emphasis there, and `glove_tuned` stays readable in the Markdown source.
_MARKDOWN_SPECIALS = frozenset("\\`*_[]|~#")
#: HTML's own characters, written as entities so no raw HTML token or character reference
#: ever appears.
_HTML_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def hidden(c: str) -> bool:
    """Whether the character `c` is a control or an invisible character that `terminal`
    writes as an escape (ZWNJ and ZWJ are not: see KEPT_INVISIBLE)."""
    return c not in KEPT_INVISIBLE and unicodedata.category(c) in _HIDDEN_CATEGORIES


def is_bidi_control(c: str) -> bool:
    """Whether `c` is a bidi override, embedding, isolate or directional mark."""
    return c in BIDI_CONTROLS


def terminal(text: str) -> str:
    """`text` for a terminal: every control character (C0 and C1: ESC, BEL, CR, LF, NUL,
    ...), bidi control and other invisible character written as a visible escape (`\\x1b`,
    `\\n`, `\\u202e`, `\\u200b`); everything else, ZWNJ and ZWJ included, as it is.

    Guarantees: the result holds no character of categories Cc, Cf (but ZWNJ and ZWJ), Zl,
    Zp or Cs, so it cannot move the cursor, change colours, set the title or the clipboard,
    end the line or reverse the text that follows.
    """
    if not any(hidden(c) for c in text):
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if hidden(c) else c for c in text)


def markdown_text(text: str) -> str:
    """`text` for Markdown prose, a heading or a list item, reading as `text` itself.

    Guarantees: `terminal` first (no control or invisible characters; their escapes show as
    written); every Markdown special (backslash, backtick, `*`, `_` but between two letters,
    brackets, `#`, `|`, `~`) is backslash-escaped, so no emphasis, code span, link, image,
    heading end or table cell boundary starts inside it; `>`, `&` and every `<` that could
    open a tag, comment, declaration or autolink (before a letter, `/`, `!`, `?`, or last)
    are entities, so no raw HTML token (inline or block) and no character reference
    appears.
    """
    shown = terminal(text)
    out = []
    for i, c in enumerate(shown):
        if c == "<" and i + 1 < len(shown) and not _may_open_html(shown[i + 1]):
            out.append(c)  # "p<0.001" stays readable: no HTML token starts with "<0"
        elif c in _HTML_ENTITIES:
            out.append(_HTML_ENTITIES[c])
        elif c == "_" and 0 < i < len(shown) - 1 and (shown[i - 1] + shown[i + 1]).isalnum():
            out.append(c)
        elif c in _MARKDOWN_SPECIALS:
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def _may_open_html(following: str) -> bool:
    """Whether `<` followed by this character could start an HTML token or an autolink in
    CommonMark (a tag, `</`, `<!--`, `<!X`, `<?`, `<scheme:`)."""
    return (following.isascii() and following.isalpha()) or following in "/!?"


def markdown_cell(value: object) -> str:
    """`value` (text, or anything `str` shows) for one cell of a Markdown (GFM) table.

    Guarantees what `markdown_text` does, `|` included, so the row keeps its header's
    column count; a value with no text at all is written `–` so the cell is not empty.
    """
    text = markdown_text(str(value))
    return text if text.strip() else "–"


def html(text: str) -> str:
    """`text` for HTML text or a quoted attribute value: `terminal` first, then `<`, `>`,
    `&`, `"` and `'` as character references. Guarantees: no tag, comment or entity starts
    inside it, and it cannot end a quoted attribute."""
    return _html.escape(terminal(text), quote=True)


def csv_cell(value: object) -> object:
    """`value` for a CSV cell a spreadsheet may open.

    Numbers (int, float; not bool) and None stay as they are, so a negative `ci_low` is
    still a number. Text goes through `terminal` (no control characters survive, not even
    a newline inside a quoted cell), and text that starts with `=`, `+`, `-`, `@`, a tab or
    a CR gets a leading `'`, so Excel, LibreOffice and Google Sheets show it as text
    instead of running it as a formula (OWASP's CSV-injection rule).
    """
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    text = str(value)
    shown = terminal(text)
    if text.startswith(FORMULA_STARTS) or shown.startswith(FORMULA_STARTS):
        return "'" + shown
    return shown


def rich_text(text: str, style: str = "") -> Text:
    """`text` as a Rich `Text`: `terminal` first, then never parsed as markup by Rich or
    Textual (a `Text` is content, not markup: `[x=']`, `[@click=app.quit]` and
    `[$accent]` stay exactly as written). Use it for every user or data string a Rich
    console prints or a Textual widget, border title or notification shows."""
    from rich.text import Text

    return Text(terminal(text), style=style)


def terminal_lines(text: str) -> str:
    """`text` of several lines for a terminal or a console widget: `terminal` applied to
    each line, the line breaks kept (`\r\n` and a lone `\r` become `\n` and `\\r`).
    Guarantees what `terminal` does, except that `\n` separates the lines."""
    return "\n".join(terminal(line) for line in text.replace("\r\n", "\n").split("\n"))


def clipboard(text: str) -> str:
    """`text` as the plain text the console copies to the clipboard (OSC 52): `terminal`
    applied line by line, so line breaks and tabs between cells stay and nothing in it can
    end the OSC 52 sequence early or start another one."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join("\t".join(terminal(cell) for cell in line.split("\t")) for line in lines)


__all__ = [
    "BIDI_CONTROLS",
    "FORMULA_STARTS",
    "KEPT_INVISIBLE",
    "clipboard",
    "csv_cell",
    "hidden",
    "html",
    "is_bidi_control",
    "markdown_cell",
    "markdown_text",
    "rich_text",
    "terminal",
    "terminal_lines",
]
