"""What every panel shares: a PNG view, a message line, and errors shown instead of lost."""

from __future__ import annotations

import functools
import html
import time

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..plot import canvas_png, to_png


class Panel:
    """Base of the panels: self.view (PNG image widget), self.message (HTML), self.widget (the layout)."""

    def __init__(self):
        self.view = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.message = widgets.HTML()
        self.progress = widgets.IntProgress(0, 0, 1, description="computing", bar_style="info",
                                            layout=widgets.Layout(display="none"))
        self.last_error: Exception | None = None
        self.render_seconds = 0.0
        self.widget: widgets.Widget = widgets.VBox([self.view, self.message])

    def _guard(self, fn):
        """Wrap a callback so an exception is shown in the panel (JupyterLab shows callback errors nowhere)."""
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                result = fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - shown to the user and kept in last_error
                self.last_error = e
                self.progress.layout.display = "none"
                self.message.value = (f"<span style='color:#b00'><b>{type(e).__name__}</b>: "
                                      f"{html.escape(str(e))}</span>")
                return None
            self.last_error = None
            return result
        return run

    def _busy(self, what: str):
        """Show `what` in the message line and the progress bar now; returns callback(done, total)."""
        self.message.value = f"<i>{html.escape(what)}…</i>"
        self.progress.value, self.progress.max = 0, 1
        self.progress.layout.display = ""

        def update(done: int, total: int) -> None:
            self.progress.max = max(total, 1)
            self.progress.value = done
        return update

    def _idle(self) -> None:
        """Hide the progress bar and clear the message line."""
        self.progress.layout.display = "none"
        self.message.value = ""

    @staticmethod
    def _set_max(slider, top: int) -> None:
        """Give an integer slider the range [0, top], keeping its value inside, as one change."""
        with slider.hold_trait_notifications():
            slider.max = top
            slider.value = min(slider.value, top)

    def _show(self, fig: Figure) -> None:
        self.view.value = to_png(fig)

    def _figure(self, key, build) -> dict:
        """The parts of the panel's figure for a layout key: build() -> (Figure, parts dict) runs on a key's
        first use; after that the figure is reused (a few layouts are kept) and the caller updates its artists."""
        figures = self.__dict__.setdefault("_figures", {})
        if key not in figures:
            if len(figures) >= 8:
                figures.pop(next(iter(figures)))
            fig, parts = build()
            figures[key] = (fig, parts, FigureCanvasAgg(fig))
        self._figure_parts = figures[key]
        return self._figure_parts[1]

    def _redraw(self) -> None:
        """Draw the reused figure after its artists changed, into the view (about half the cost of a new one)."""
        _, _, canvas = self._figure_parts
        canvas.draw()
        self.view.value = canvas_png(canvas)

    def _timed_render(self) -> None:
        start = time.perf_counter()
        self.render()
        self.render_seconds = time.perf_counter() - start

    def render(self) -> None:  # overridden by each panel
        """Draw the current view into self.view."""

    def png(self) -> bytes:
        """The PNG bytes now shown."""
        return bytes(self.view.value)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
