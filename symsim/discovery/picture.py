"""The picture of a discovery: the data against what the best candidates simulate.

- ODE series: one panel per state over time, the data as dots, the best candidates' runs
  as lines (the best one solid), a dashed line where the held-back part begins;
- PDE snapshots: per field the data, the best model's replay from the first snapshot and
  their difference, as space-time images (1-D grids) or as the last snapshot (2-D, 3-D: the
  middle plane), on the data's own coordinates.
"""

from __future__ import annotations

import math

import numpy as np

from ..plotting import cell_edges, new_figure
from .observations import training_samples


def discovery_figure(found, shown: int = 3):
    data = found.data
    runs = [c for c in found.candidates if c.replay is not None and math.isfinite(c.replay_error)][:shown]
    best = found.best
    runs = [best] + [c for c in runs if c is not best][:shown - 1]
    times = data.times[0] - data.times[0][0]
    split = times[training_samples(len(times), found.holdout) - 1]
    if data.kind == "ode":
        return _series_figure(data, runs, times, split)
    return _snapshots_figure(data, best, times, split)


def _series_figure(data, runs, times, split):
    rows = len(data.names)
    figure = new_figure(9, 2.2 * rows + 0.6)
    observed = data.values[0]
    for k, name in enumerate(data.names):
        ax = figure.add_subplot(rows, 1, k + 1)
        ax.plot(times, observed[:, k], ".", color="0.45", markersize=3, label="data")
        for n, candidate in enumerate(runs):
            style = {"lw": 1.8} if n == 0 else {"lw": 1.0, "ls": "--"}
            label = f"{'best: ' if n == 0 else ''}{candidate.proposal.method}, {candidate.terms} terms"
            ax.plot(times, candidate.replay[:, k], label=label, **style)
        ax.axvline(split, color="k", ls=":", lw=1)
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        if k == 0:
            ax.set_title(f"{data.source}: data and discovered models (held back from t = {split:.3g})")
            ax.legend(fontsize="small", ncol=2)
    ax.set_xlabel("t (from the first sample)")
    return figure


def _snapshots_figure(data, best, times, split):
    fields = len(data.names)
    figure = new_figure(12, 3.4 * fields + 0.4)
    axes = list(data.coords)
    observed = data.values[0]
    for k, name in enumerate(data.names):
        panels = (("data", observed[..., k]), ("model (replayed)", best.replay[..., k]),
                  ("model - data", best.replay[..., k] - observed[..., k]))
        limits = (np.nanmin(observed[..., k]), np.nanmax(observed[..., k]))
        for column, (title, values) in enumerate(panels):
            ax = figure.add_subplot(fields, 3, 3 * k + column + 1)
            if column == 2:
                reach = float(np.nanmax(np.abs(values))) or 1.0
                shared = {"vmin": -reach, "vmax": reach, "cmap": "RdBu_r"}
            else:
                shared = {"vmin": limits[0], "vmax": limits[1]}
            if len(axes) == 1:
                (x,) = data.coords.values()
                image = ax.imshow(values, origin="lower", aspect="auto", interpolation="nearest",
                                  extent=[*cell_edges(x), *cell_edges(times)], **shared)
                ax.axhline(split, color="w", ls=":", lw=1)
                ax.set_xlabel(axes[0])
                ax.set_ylabel("t")
                ax.set_title(f"{name}: {title}")
            else:
                plane = values[-1]
                while plane.ndim > 2:
                    plane = plane[..., plane.shape[-1] // 2]
                first, second = list(data.coords.values())[:2]
                image = ax.imshow(plane.T, origin="lower", aspect="equal", interpolation="nearest",
                                  extent=[*cell_edges(first), *cell_edges(second)], **shared)
                ax.set_xlabel(axes[0])
                ax.set_ylabel(axes[1])
                ax.set_title(f"{name}: {title}, t = {times[-1]:.3g}")
            figure.colorbar(image, ax=ax)
    figure.suptitle(f"{data.source}: {'; '.join(best.equations(data.names))}", fontsize="medium")
    return figure
