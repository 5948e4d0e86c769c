"""Look inside a run (`i` on a run): what its embedding learned and what it gets wrong.

Three views of one run, beside the runs marked for the overlay: its words (the most
positive and negative words, the nearest neighbours of a few probe words beside GloVe and
the marked runs, for a tuned-GloVe run the words that moved most), its validation reviews
(accuracy and loss from the kept logits, confusion, calibration, the most confidently wrong
reviews and where it disagrees with the first marked run), and a 2-D projection (PCA) of
chosen words, one chart per run side by side. Everything is computed from the run's kept
arrays (`embtui.inspect`) in a background job; nothing trains.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from embtui.app.workers import ReportsFailures, background
from embtui.escape import terminal
from embtui.inspect import analysis as an
from embtui.inspect.text import DEFAULT_PROBES, reviews_report, words_report
from embtui.inspect.view import RunView, load_run
from embtui.store import Store

#: How many of the most positive and most negative words the projection adds to the probes.
PROJECTED_EXTREMES = 4


def projected_words(view: RunView, probes: tuple[str, ...]) -> list[str]:
    """The words a projection draws: the probes in the vocabulary, then the run's most
    positive and most negative words."""
    words = [w for w in probes if w in view.words[an.FIRST_WORD :]]
    scores = view.scores()
    if scores is not None:
        up, down = an.extremes(scores, view.words, PROJECTED_EXTREMES)
        words += [s.word for s in (*up, *down) if s.word not in words]
    return words


class WordMap(PlotextPlot):
    """One run's chosen words on their first two principal components."""

    def __init__(self, view: RunView, words: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.view = view
        self.words = words

    def on_mount(self) -> None:
        plt = self.plt
        plt.title(terminal(self.view.label))
        table = self.view.table
        if table is None or len(self.words) < 2:
            plt.text("no table kept", 0, 0)
            return
        rows = [an.word_row(self.view.words, w) for w in self.words]
        points = an.pca2(table[rows])
        xs, ys = points[:, 0], points[:, 1]
        plt.scatter(xs.tolist(), ys.tolist(), marker="dot")
        for word, (x, y) in zip(self.words, points.tolist(), strict=True):
            plt.text(terminal(word), x, y)
        # Room for the words, drawn centred on their points, at the edges.
        span_x = float(xs.max() - xs.min()) or 1.0
        span_y = float(ys.max() - ys.min()) or 1.0
        plt.xlim(float(xs.min()) - 0.15 * span_x, float(xs.max()) + 0.15 * span_x)
        plt.ylim(float(ys.min()) - 0.1 * span_y, float(ys.max()) + 0.1 * span_y)
        plt.xlabel("PC 1")
        plt.ylabel("PC 2")


class InspectScreen(ReportsFailures, Screen[None]):
    DEFAULT_CSS = """
    InspectScreen {
        #inspect-title { padding: 0 1; text-style: bold; height: 1; }
        #inspect-body { height: 1fr; }
        #inspect-text { padding: 0 1; }
        #inspect-maps { height: 1fr; }
        #inspect-maps WordMap { width: 1fr; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="inspect-close"),
        Binding("q", "dismiss", "Close", show=False, id="inspect-close-q"),
        Binding("w", "show('words')", "Words", id="inspect-words"),
        Binding("r", "show('reviews')", "Reviews", id="inspect-reviews"),
        Binding("p", "show('map')", "Word map", id="inspect-map"),
    ]

    def __init__(self, store: Store, run_id: int, others: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.store = store
        self.run_id = run_id
        self.others = tuple(o for o in others if o != run_id)
        self.view: RunView | None = None
        self.other_views: list[RunView] = []
        self.page = "words"

    def compose(self) -> ComposeResult:
        yield Static(
            f"Run {self.run_id}: loading…",
            id="inspect-title",
        )
        with Vertical(id="inspect-body"):
            with VerticalScroll(id="inspect-scroll"):
                yield Static(id="inspect-text")
            yield Horizontal(id="inspect-maps")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#inspect-maps").display = False
        self.load()

    @background("inspect")
    def load(self) -> None:
        view = load_run(self.store, self.run_id)
        others = []
        for run_id in self.others:
            try:
                others.append(load_run(self.store, run_id))
            except Exception:  # a marked run without kept arrays is left out, not an error
                continue
        self.app.call_from_thread(self._loaded, view, others)

    def _loaded(self, view: RunView, others: list[RunView]) -> None:
        self.view, self.other_views = view, others
        beside = f" beside {', '.join(o.label for o in others)}" if others else ""
        self.query_one("#inspect-title", Static).update(
            Text(f"{terminal(view.label)} of experiment {view.experiment_id}{beside}")
        )
        self.action_show(self.page)

    def job_failed(self, group: str, error: BaseException) -> None:
        self.query_one("#inspect-title", Static).update(
            Text(f"Run {self.run_id}: {terminal(str(error))}")
        )

    def action_show(self, page: str) -> None:
        self.page = page
        if self.view is None:
            return
        maps = self.query_one("#inspect-maps", Horizontal)
        scroll = self.query_one("#inspect-scroll")
        maps.display = page == "map"
        scroll.display = page != "map"
        if page == "map":
            maps.remove_children()
            words = projected_words(self.view, DEFAULT_PROBES)
            views = [self.view, *self.other_views]
            maps.mount_all(
                WordMap(v, [w for w in words if w in v.words[an.FIRST_WORD :]]) for v in views
            )
            return
        if page == "words":
            lines = words_report(self.view, DEFAULT_PROBES, others=self.other_views)
        else:
            other = self.other_views[0] if self.other_views else None
            lines = reviews_report(self.view, other)
        # A Text, not markup: the lines hold words and reviews from data files (escaped for
        # the terminal by embtui.inspect.text).
        self.query_one("#inspect-text", Static).update(Text("\n".join(lines)))
        scroll.scroll_home(animate=False)
