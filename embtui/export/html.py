"""The single-file HTML report: the Markdown report rendered, with its figures inside.

One file to `scp` and open in any browser, offline: the very text of `to_markdown` rendered
by markdown-it-py (CommonMark with tables, raw HTML *off*, so a name such as
`x <img src=x onerror=...>` is shown as text, never run), a few lines of embedded CSS for
readable tables, and every figure as a `data:` URI in its `<img>`. Nothing is fetched: no
script, no stylesheet, no font, no image from anywhere else.

The figures go in as images rather than as inline `<svg>` elements: each SVG that matplotlib
writes is a document of its own whose glyph and clip-path ids would repeat (and clash)
between figures on one page, while an image keeps each figure apart, cannot run a script,
and carries its alt text. SVG stays vector (sharp when printed); `figures="png"` embeds PNG
for viewers that want bitmaps. markdown-it refuses `data:image/svg+xml` links (its
`validateLink`), so the Markdown links the figures by name and the links are replaced by
the data URIs in the parsed tokens, before rendering.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING

from embtui.errors import printable
from embtui.export.figures import draw_figures, figure_bytes, links
from embtui.export.markdown import to_markdown
from embtui.report.model import Report

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

#: Where the Markdown links a figure before its link becomes a data URI.
_BASE = "embtui-figures"
_MIME = {"svg": "image/svg+xml", "png": "image/png"}

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1f2328; background: #fff; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1 { font-size: 1.7em; border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em;
     margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; display: block; overflow-x: auto; margin: 1em 0;
        font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: .3em .7em; }
td { white-space: nowrap; }
th { background: #f6f8fa; }
tbody tr:nth-child(2n) { background: #f9fafb; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
            font-size: .9em; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; line-height: 1.25; }
img { max-width: 100%; height: auto; display: block; margin: .5em 0 1.5em; }
"""


def _renderer() -> MarkdownIt:
    from markdown_it import MarkdownIt

    # Raw HTML off: every "<" in a name or an error message is rendered as "&lt;".
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def to_html(report: Report, figures: str | None = "svg") -> str:
    """The report as one HTML file; `figures` is "svg", "png" or None (no figures)."""
    uris: dict[str, str] = {}
    refs = None
    if figures:
        drawn = draw_figures(report)
        refs = links(drawn, _BASE, figures, data=False)
        for d, (_, _, path) in zip(drawn, refs.images, strict=True):
            encoded = base64.b64encode(figure_bytes(d, figures)).decode("ascii")
            uris[path] = f"data:{_MIME[figures]};base64,{encoded}"
    md = _renderer()
    env: dict = {}
    tokens = md.parse(to_markdown(report, refs), env)
    title = "embtui report"
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1" and title == "embtui report":
            title = "".join(c.content for c in tokens[i + 1].children or () if c.type == "text")
        for child in token.children or ():
            if child.type == "image" and child.attrGet("src") in uris:
                child.attrSet("src", uris[str(child.attrGet("src"))])
    body = md.renderer.render(tokens, md.options, env)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(printable(title))}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    )
