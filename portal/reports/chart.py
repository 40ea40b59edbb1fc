"""The report's bar chart: an SVG drawn by pygal on the server, which works
on its own without JavaScript (pygal's script is taken out: the back office
shows it as an <img>, and the table beside it is its text equivalent)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

import pygal
from pygal.style import Style

from portal.reports.domain import Report

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1b1f",
    foreground_strong="#1b1b1f",
    foreground_subtle="#c9ced6",
    colors=("#0b5c55", "#b35c00", "#5a2d82"),
    font_family='system-ui, "Segoe UI", Roboto, "DejaVu Sans", sans-serif',
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    value_font_size=12,
    tooltip_font_size=13,
)


def _without_scripts(root: ET.Element) -> None:
    for parent in root.iter():
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)


def bar_chart(report: Report, *, title: str, months: Sequence[str], series: Sequence[tuple[str, Callable]], money: Callable[[int], str]) -> bytes:
    """Grouped bars per month: one series per (label, month → øre) in `series`,
    drawn in kroner; `money` formats the value each bar carries as its text."""
    chart = pygal.Bar(
        js=[],
        style=STYLE,
        width=960,
        height=420,
        explicit_size=False,
        title=title,
        legend_at_bottom=True,
        legend_at_bottom_columns=len(series),
        truncate_legend=-1,
        x_labels=list(months),
        print_values=False,
        show_minor_y_labels=False,
        value_formatter=lambda kroner: money(round((kroner or 0) * 100)),
        margin=16,
        no_data_text="",
    )
    for label, of in series:
        chart.add(label, [of(m) / 100 for m in report.months])
    root = chart.render_tree()
    _without_scripts(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
