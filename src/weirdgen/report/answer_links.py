"""Links from the report's figures to the answers behind them, in answers.html.

A link is answers.html with the browser's filters in the URL fragment:
``answers.html#condition=old_birds&eval_set=unrelated&question_id=invention``. A key names a
column and a value one of its values as the browser shows it (:func:`format_value`); a key
given twice keeps rows with either value; ``lo..hi`` on a numeric column is a range (either
end may be left out); ``(missing)`` keeps rows without a value. Keys that start with ``~``
are the browser's own (``~search``, ``~page``), never columns.

A bar of a figure is tagged with its fragment (matplotlib's ``url`` property of the
rectangle) when it is drawn; after the figure is saved, :func:`bar_links` reads where each
tagged bar landed, as a share of the image, so report.html can lay a link over it that stays
in place however wide the image is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pandas as pd
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from weirdgen.report.browser import ANSWERS_HTML, format_value
from weirdgen.spec.models import ExperimentSpec

Filters = Sequence[tuple[str, str]]
"""(column, value) pairs; a column named twice keeps rows with either value."""


@dataclass(frozen=True)
class BarLink:
    """A link laid over one bar: its href, a tooltip, and its box in percent of the image."""

    href: str
    title: str
    left: float
    top: float
    width: float
    height: float


def fragment(filters: Filters) -> str:
    """The URL fragment (without ``#``) that sets the browser's filters to ``filters``."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in filters)


class AnswerLinks:
    """Which answers a metric's bar stands for, as browser filters.

    A metric reads the rows of its eval set, only those where its ``among`` column is true,
    only the questions its ``where`` keeps, only answers its coherence filter keeps, and
    only the final models; a bar adds its condition and its group (a question, a value of a
    ``by`` key).
    """

    def __init__(self, spec: ExperimentSpec, samples: pd.DataFrame) -> None:
        self._metrics = {m.name: m for m in spec.metrics}
        self._columns = set(samples.columns)
        self._checkpoints = "final" in samples and not samples["final"].eq(True).all()
        self.n_answers = len(samples)

    def filters(
        self, metric: str | None, group: Mapping[str, object], *, final: bool = True
    ) -> list[tuple[str, str]]:
        """The filters of ``metric``'s answers in ``group`` (column=value, e.g. condition).

        Args:
            metric: The metric whose answers; None for any answers of ``group``.
            final: Only the models at the end of finetuning (False for a training curve's
                points, whose ``group`` names the step).
            group: The bar's columns and values.
        """
        found = [(key, format_value(value)) for key, value in group.items()]
        if metric is not None:
            spec = self._metrics[metric]
            found.append(("eval_set", spec.eval_set))
            for key, values in spec.where.items():
                found += [(key, format_value(v)) for v in values]
            if spec.among:
                found.append((spec.among, "true"))
            if spec.coherence is not None:
                found.append((spec.coherence.score, f"{format_value(spec.coherence.min)}.."))
        if final and self._checkpoints:
            found.append(("final", "true"))
        return [(key, value) for key, value in found if key in self._columns]

    def href(self, metric: str | None, group: Mapping[str, object], *, final: bool = True) -> str:
        """answers.html with the filters of ``metric``'s answers in ``group``."""
        return f"{ANSWERS_HTML}#{fragment(self.filters(metric, group, final=final))}"

    def by_group(
        self, metric: str, groups: Mapping[str, Mapping[str, object]]
    ) -> Callable[[str, str], str]:
        """A figure's link per (group, condition), where each group label (e.g. 'on, 1850')
        stands for its key values in ``groups``."""
        return lambda group, condition: self.href(metric, {"condition": condition, **groups[group]})

    def label_links(
        self, condition: str, column: str, labels: Sequence[str]
    ) -> tuple[tuple[str, str], ...]:
        """(label, link to the condition's answers a label judge gave it) for each label."""
        return tuple(
            (label, self.href(None, {"condition": condition, column: label})) for label in labels
        )


def tag_bars(bars: BarContainer, hrefs: Iterable[str | None]) -> None:
    """Give each bar its link (None: none), read back by :func:`bar_links` after saving."""
    for patch, href in zip(bars.patches, hrefs, strict=True):
        patch.set_url(href)


def bar_links(figure: Figure, titles: Mapping[str, str] | None = None) -> tuple[BarLink, ...]:
    """Where each tagged bar of ``figure`` is, as a share of the saved image.

    Call after the figure has been saved (the layout is final then). A link spans its bar's
    width and the full height of its axes, so that a bar of height 0 can still be clicked.

    Args:
        figure: The saved figure.
        titles: A tooltip per href; by default the filters of the fragment, spelled out.
    """
    width, height = figure.bbox.width, figure.bbox.height
    links = []
    for patch in figure.findobj(Rectangle):
        href = patch.get_url()
        if not href or patch.axes is None:
            continue
        bar, axes = patch.get_window_extent(), patch.axes.get_window_extent()
        links.append(
            BarLink(
                href=href,
                title=(titles or {}).get(href) or _spelled_out(href),
                left=100 * bar.x0 / width,
                top=100 * (1 - axes.y1 / height),
                width=100 * bar.width / width,
                height=100 * axes.height / height,
            )
        )
    return tuple(links)


def _spelled_out(href: str) -> str:
    pairs = href.partition("#")[2].split("&")
    return "answers: " + ", ".join(unquote(p).replace("=", " = ", 1) for p in pairs if p)
