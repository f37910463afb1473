"""The report's figures as PNG bytes (matplotlib, Agg canvas; no pyplot state)."""

from __future__ import annotations

import io
import math
import textwrap
from typing import Mapping, Optional, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _note(figure: Figure, note: str) -> None:
  """The figure's basis under it (after a tight layout, so no empty band comes between)."""
  figure.tight_layout()
  width = int(figure.get_figwidth() * 16)
  figure.text(0.01, -0.02, textwrap.fill(note, width), fontsize=7, ha="left", va="top")


def _width(labels: Sequence[str], plot: float) -> float:
  """Inches for a plot of `plot` inches beside its row labels."""
  return plot + 0.075 * max((len(l) for l in labels), default=0)


def _png(figure: Figure) -> bytes:
  FigureCanvasAgg(figure)
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  return buffer.getvalue()


def delta_heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    deltas: Mapping[str, Mapping[str, float]],
    title: str,
    note: str,
    row_height: float = 0.5,
    label: str = "delta vs baseline (points)",
) -> bytes:
  """rows x columns (tasks x languages, or conditions x tasks), colour = delta; blank if absent."""
  values = np.full((len(rows), len(columns)), np.nan)
  for i, row in enumerate(rows):
    for j, column in enumerate(columns):
      values[i, j] = deltas.get(row, {}).get(column, np.nan)
  limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
  limit = limit or 1.0
  label_width = 0.075 * max((len(r) for r in rows), default=0)  # inches for the row names
  figure = Figure(figsize=(max(4.0, 0.7 * len(columns) + 2.5) + label_width, max(2.5, row_height * len(rows) + 1.5)))
  axes = figure.add_subplot()
  image = axes.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
  axes.set_xticks(
      range(len(columns)),
      columns,
      rotation=45 if len(columns) > 12 else 0,
      ha="right" if len(columns) > 12 else "center",
  )
  axes.set_yticks(range(len(rows)), rows, fontsize=8 if len(rows) > 20 else 10)
  for i in range(len(rows)):
    for j in range(len(columns)):
      if math.isfinite(values[i, j]):
        axes.text(
            j,
            i,
            f"{values[i, j]:+.1f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if abs(values[i, j]) > 0.6 * limit else "black",
        )
  figure.colorbar(image, ax=axes, label=label, fraction=0.04 if len(rows) > 20 else 0.15)
  axes.set_title(title, fontsize=10)
  _note(figure, note)
  return _png(figure)


def forest(
    labels: Sequence[str],
    estimates: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    xlabel: str,
    title: str,
    note: str,
) -> bytes:
  """One row per condition (in the order given, top first): estimate and its CI."""
  n = len(labels)
  figure = Figure(figsize=(_width(labels, 5.0), max(2.5, 0.26 * n + 1.4)))
  axes = figure.add_subplot()
  y = np.arange(n)[::-1]
  est = np.asarray(estimates, float)
  low, high = np.asarray(lows, float), np.asarray(highs, float)
  has_ci = np.isfinite(low) & np.isfinite(high)
  error = [est[has_ci] - low[has_ci], high[has_ci] - est[has_ci]]
  axes.errorbar(
      est[has_ci],
      y[has_ci],
      xerr=error,
      fmt="o",
      color=_COLORS[0],
      ecolor="#555555",
      capsize=2,
      markersize=4,
      label="estimate, 95% CI",
  )
  if (~has_ci).any():
    axes.plot(est[~has_ci], y[~has_ci], "x", color=_COLORS[1], label="no CI (fewer than 2 runs)")
  axes.axvline(0, color="black", linewidth=0.8)
  axes.set_yticks(y, labels, fontsize=8 if n > 20 else 9)
  axes.set_ylim(-0.7, n - 0.3)
  axes.set_xlabel(xlabel)
  axes.grid(axis="x", alpha=0.3)
  axes.legend(fontsize=7, loc="best")
  axes.set_title(title, fontsize=10)
  _note(figure, note)
  return _png(figure)


def gain_vs_distance(
    series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[str]]], xlabel: str, note: str, title: str
) -> bytes:
  """Small multiples, one panel per condition: distance -> mean gain per language, LS line."""
  n = len(series)
  columns = min(4, n)
  rows = math.ceil(n / columns)
  figure = Figure(figsize=(3.2 * columns + 0.5, 2.8 * rows + 0.8))
  everything = [v for x, y, _ in series.values() for v in y]
  low, high = (min(everything + [0.0]), max(everything + [0.0])) if everything else (-1, 1)
  pad = 0.08 * ((high - low) or 1.0)
  for k, (label, (x, y, names)) in enumerate(series.items()):
    axes = figure.add_subplot(rows, columns, k + 1)
    axes.scatter(x, y, color=_COLORS[0], s=14, zorder=3)
    for xi, yi, name in zip(x, y, names):
      axes.annotate(name, (xi, yi), textcoords="offset points", xytext=(3, 2), fontsize=6)
    if len(x) >= 2 and np.ptp(x) > 0:
      b, a = np.polyfit(x, y, 1)
      xs = np.linspace(min(x), max(x), 2)
      axes.plot(xs, a + b * xs, color=_COLORS[1], alpha=0.8)
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylim(low - pad, high + pad)
    axes.set_title(textwrap.fill(label, 38), fontsize=8)
    axes.tick_params(labelsize=7)
    if k % columns == 0:
      axes.set_ylabel("mean gain (points)", fontsize=8)
    if k >= n - columns:
      axes.set_xlabel(xlabel, fontsize=8)
  figure.suptitle(title, fontsize=10)
  _note(figure, note)
  return _png(figure)


def gain_by_group(
    groups: Sequence[str], labels: Sequence[str], means: Mapping[str, Sequence[Optional[float]]], title: str, note: str
) -> bytes:
  """Dot plot, one row per condition, one marker per group: mean gain (points)."""
  n = len(labels)
  figure = Figure(figsize=(_width(labels, 6.5), max(2.5, 0.26 * n + 1.6)))
  axes = figure.add_subplot()
  y = np.arange(n)[::-1]
  markers = "os^Dv"
  for k, group in enumerate(groups):
    values = np.array([v if v is not None else np.nan for v in means[group]], float)
    axes.plot(
        values, y, markers[k % len(markers)], color=_COLORS[k % len(_COLORS)], label=group, markersize=5, alpha=0.85
    )
  axes.axvline(0, color="black", linewidth=0.8)
  axes.set_yticks(y, labels, fontsize=8 if n > 20 else 9)
  axes.set_ylim(-0.7, n - 0.3)
  axes.grid(axis="x", alpha=0.3)
  axes.set_xlabel("mean gain over the group's languages (points)")
  axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
  axes.set_title(title, fontsize=10)
  _note(figure, note)
  return _png(figure)
