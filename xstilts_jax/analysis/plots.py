"""The report's figures as PNG bytes (matplotlib, Agg canvas; no pyplot state)."""
from __future__ import annotations

import io
import math
import textwrap
from typing import Mapping, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _note(figure: Figure, note: str) -> None:
  width = int(figure.get_figwidth() * 16)
  figure.text(0.01, -0.02, textwrap.fill(note, width), fontsize=7, ha="left", va="top")


def _png(figure: Figure) -> bytes:
  FigureCanvasAgg(figure)
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  return buffer.getvalue()


def delta_heatmap(tasks: Sequence[str], languages: Sequence[str],
                  deltas: Mapping[str, Mapping[str, float]], title: str, note: str) -> bytes:
  """Tasks x languages, colour = delta (points) against the baseline; blank where absent."""
  values = np.full((len(tasks), len(languages)), np.nan)
  for i, task in enumerate(tasks):
    for j, language in enumerate(languages):
      values[i, j] = deltas.get(task, {}).get(language, np.nan)
  limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
  limit = limit or 1.0
  figure = Figure(figsize=(max(4.0, 0.7 * len(languages) + 2.5), max(2.5, 0.5 * len(tasks) + 1.5)))
  axes = figure.add_subplot()
  image = axes.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-limit, vmax=limit,
                      aspect="auto")
  axes.set_xticks(range(len(languages)), languages)
  axes.set_yticks(range(len(tasks)), tasks)
  for i in range(len(tasks)):
    for j in range(len(languages)):
      if math.isfinite(values[i, j]):
        axes.text(j, i, f"{values[i, j]:+.1f}", ha="center", va="center", fontsize=8,
                  color="white" if abs(values[i, j]) > 0.6 * limit else "black")
  figure.colorbar(image, ax=axes, label="delta vs baseline (points)")
  axes.set_title(title, fontsize=10)
  _note(figure, note)
  return _png(figure)


def gain_vs_distance(series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[str]]],
                     xlabel: str, note: str) -> bytes:
  """One scatter (and least-squares line) per condition: distance -> mean gain per language."""
  figure = Figure(figsize=(6.5, 4.5))
  axes = figure.add_subplot()
  for k, (label, (x, y, names)) in enumerate(series.items()):
    color = _COLORS[k % len(_COLORS)]
    axes.scatter(x, y, color=color, label=label, zorder=3)
    for xi, yi, name in zip(x, y, names):
      axes.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if len(x) >= 2 and np.ptp(x) > 0:
      b, a = np.polyfit(x, y, 1)
      xs = np.linspace(min(x), max(x), 2)
      axes.plot(xs, a + b * xs, color=color, alpha=0.6)
  axes.axhline(0, color="black", linewidth=0.8)
  axes.set_xlabel(xlabel)
  axes.set_ylabel("mean gain over tasks (points)")
  axes.legend(fontsize=7)
  axes.set_title("Gain vs typological distance to English", fontsize=10)
  _note(figure, note)
  return _png(figure)


def gain_by_group(groups: Sequence[str],
                  bars: Mapping[str, Sequence[tuple[float, Optional[float], Optional[float]]]],
                  title: str, note: str) -> bytes:
  """Grouped bars: per condition, the mean gain of each group with its CI (if any)."""
  figure = Figure(figsize=(max(5.0, 1.6 * len(groups) + 2), 4.2))
  axes = figure.add_subplot()
  width = 0.8 / max(1, len(bars))
  for k, (label, values) in enumerate(bars.items()):
    positions = np.arange(len(groups)) + (k - (len(bars) - 1) / 2) * width
    means = [v[0] for v in values]
    low = [v[0] - v[1] if v[1] is not None else 0.0 for v in values]
    high = [v[2] - v[0] if v[2] is not None else 0.0 for v in values]
    axes.bar(positions, means, width, yerr=[low, high], capsize=3, label=label,
             color=_COLORS[k % len(_COLORS)])
  axes.axhline(0, color="black", linewidth=0.8)
  axes.set_xticks(range(len(groups)), groups)
  axes.set_ylabel("mean gain (points)")
  axes.legend(fontsize=7)
  axes.set_title(title, fontsize=10)
  _note(figure, note)
  return _png(figure)
