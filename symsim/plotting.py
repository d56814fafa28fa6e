"""Pictures of simulation results.

:func:`plot_result` chooses a picture by the kind of result:

* ODE systems: time series of all fields, and a phase portrait (2-D for two
  fields, 3-D of the first three for more).
* 1-D grids: per field a space-time image and snapshots at a few times.
* 2-D grids: per field a row of snapshots with shared colour limits.
* 3-D grids: as 2-D, on the mid-plane slice across the last axis.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas,
not pyplot, so no global backend is switched and notebooks are unaffected.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .errors import SymsimError
from .io import atomic_write

__all__ = ["plot_result", "new_figure", "save_figure"]

DPI = 110
_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg", ".jpg": "jpg", ".jpeg": "jpg"}
_MAX_LINE_POINTS = 20000  # time series longer than this are thinned for drawing
#: images are decimated to at most this many samples per axis before drawing: a panel is ~400 pixels
#: wide, and matplotlib's resampling of a 1024^2 field costs ~0.1 s per panel for nothing visible
_MAX_IMAGE_POINTS = 400


# -- helpers ------------------------------------------------------------------

def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """An empty figure of ``width`` x ``height`` inches on the Agg canvas (pyplot's state untouched).

    ``layout=None`` leaves the placement to the caller (constrained layout measures every tick label
    of every panel at each draw: ~0.5 s for a 2x3 grid of images, more than drawing them).
    """
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format of its suffix (PNG if unknown or absent)."""
    path = Path(path)
    buf = io.BytesIO()
    kind = _FORMATS.get(path.suffix.lower(), "png")
    # zlib level 1: a PNG of six image panels encodes in a third of the default level's time, ~10% larger
    options = {"pil_kwargs": {"compress_level": 1}} if kind == "png" else {}
    fig.savefig(buf, format=kind, dpi=DPI, **options)
    data = buf.getvalue()
    return atomic_write(path, lambda f: f.write(data))


#: saved states a picture shows by default, evenly spaced from the first to the last
SNAPSHOTS = 6


def _snapshot_indices(t: np.ndarray, times: Sequence[float] | None) -> list[int]:
    """Indices of the saved states to show: up to SNAPSHOTS evenly spaced from the first to the last,
    or those nearest ``times``."""
    n = len(t)
    if times is None:
        idx = [int(round(i)) for i in np.linspace(0, n - 1, min(n, SNAPSHOTS))]
    else:
        idx = [int(np.argmin(np.abs(t - float(s)))) for s in np.atleast_1d(times)]
    return list(dict.fromkeys(idx))  # drop duplicates, keep order


def _color_limits(values: np.ndarray) -> tuple[float, float] | tuple[None, None]:
    """Finite min/max of ``values`` (widened if equal); (None, None) if nothing is finite."""
    lo, hi = float(np.min(values, initial=np.inf)), float(np.max(values, initial=-np.inf))
    if not (np.isfinite(lo) and np.isfinite(hi)):    # the masked copy only where something is not finite
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return None, None
        lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        pad = abs(lo) * 1e-3 or 1e-3
        lo, hi = lo - pad, hi + pad
    return lo, hi


def cell_edges(c: np.ndarray) -> tuple[float, float]:
    """Outer edges of cells centred on the (uniform) coordinate values ``c``."""
    c = np.asarray(c, dtype=float)
    if len(c) < 2:
        return float(c[0]) - 0.5, float(c[0]) + 0.5
    half = 0.5 * (c[-1] - c[0]) / (len(c) - 1)
    return float(c[0] - half), float(c[-1] + half)


def _aspect(extent: Sequence[float]) -> str:
    """Equal aspect for roughly square domains, 'auto' for elongated ones."""
    w, h = abs(extent[1] - extent[0]), abs(extent[3] - extent[2])
    return "equal" if h > 0 and 0.25 <= w / h <= 4 else "auto"


def _thin(n: int) -> slice:
    return slice(None, None, max(1, n // _MAX_LINE_POINTS))


def _decimated(image: np.ndarray) -> np.ndarray:
    """Every k-th sample along each axis of a 2-D image, k chosen so that no axis exceeds _MAX_IMAGE_POINTS
    (the last sample kept, so the image still reaches the end of its extent)."""
    def samples(n: int) -> np.ndarray:
        return np.unique(np.append(np.arange(0, n, -(-n // _MAX_IMAGE_POINTS)), n - 1))
    return image[np.ix_(samples(image.shape[0]), samples(image.shape[1]))]


def _split_fields(result) -> tuple[dict, dict]:
    """(grid fields, scalar fields) of a result with coordinates."""
    ndim = len(result.coords)
    grid = {k: np.asarray(v) for k, v in result.fields.items() if np.ndim(v) == ndim + 1}
    scalar = {k: np.asarray(v) for k, v in result.fields.items() if np.ndim(v) != ndim + 1}
    return grid, scalar


def _time_series(ax, t: np.ndarray, fields: dict) -> None:
    s = _thin(len(t))
    for name, values in fields.items():
        values = np.asarray(values)
        if values.ndim != 1:  # not a scalar series: plot its spatial mean
            values = values.reshape(len(t), -1).mean(axis=1)
            name = f"mean {name}"
        ax.plot(t[s], values[s], label=name)
    ax.set_xlabel("t")
    ax.set_title("time series")
    ax.grid(True, alpha=0.3)
    if fields:
        ax.legend(fontsize="small" if len(fields) > 6 else None, ncols=1 + len(fields) // 10)


# -- one function per kind of result ----------------------------------------

def _plot_ode(result, times=None) -> Figure:
    t = np.asarray(result.t)
    names = list(result.fields)
    phase = len(names) >= 2
    fig = new_figure(11 if phase else 7, 4.5)
    ax = fig.add_subplot(1, 2 if phase else 1, 1)
    _time_series(ax, t, result.fields)
    if len(names) == 2:
        a, b = (np.asarray(result.fields[n]) for n in names)
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(a, b, lw=1)
        ax2.plot(a[0], b[0], "o", color="C2", label="start")
        ax2.plot(a[-1], b[-1], "s", color="C3", label="end")
        ax2.set_xlabel(names[0])
        ax2.set_ylabel(names[1])
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize="small")
        ax2.set_title("phase portrait")
    elif len(names) >= 3:
        import mpl_toolkits.mplot3d  # noqa: F401  (registers the 3-D projection)

        a, b, c = (np.asarray(result.fields[n]) for n in names[:3])
        ax3 = fig.add_subplot(1, 2, 2, projection="3d")
        ax3.plot(a, b, c, lw=0.8)
        ax3.scatter([a[0]], [b[0]], [c[0]], color="C2", label="start")
        ax3.scatter([a[-1]], [b[-1]], [c[-1]], color="C3", label="end")
        ax3.set_xlabel(names[0])
        ax3.set_ylabel(names[1])
        ax3.set_zlabel(names[2])
        ax3.legend(fontsize="small")
        ax3.set_title(f"phase portrait ({', '.join(names[:3])})")
    fig.suptitle(result.model_name)
    return fig


def _plot_1d(result, times=None) -> Figure:
    t = np.asarray(result.t)
    (xname, x), = result.coords.items()
    x = np.asarray(x)
    grid, scalar = _split_fields(result)
    rows = len(grid) + (1 if scalar else 0)
    fig = new_figure(11, 3.6 * max(rows, 1))
    idx = _snapshot_indices(t, times)
    extent = [*cell_edges(x), *cell_edges(t)]
    for r, (name, u) in enumerate(grid.items()):
        lo, hi = _color_limits(u)
        ax = fig.add_subplot(rows, 2, 2 * r + 1)
        im = ax.imshow(_decimated(u), origin="lower", extent=extent, aspect="auto", vmin=lo, vmax=hi,
                       interpolation="nearest")
        ax.set_xlabel(xname)
        ax.set_ylabel("t")
        ax.set_title(f"{name}({xname}, t)")
        fig.colorbar(im, ax=ax)   # unlabelled: the title names the field, and a label would crowd the next panel
        ax = fig.add_subplot(rows, 2, 2 * r + 2)
        for i in idx:
            ax.plot(x, u[i], label=f"t={t[i]:.4g}")
        ax.set_xlabel(xname)
        ax.set_ylabel(name)
        if lo is not None:
            ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        ax.set_title(f"{name} snapshots")
    if scalar:
        _time_series(fig.add_subplot(rows, 1, rows), t, scalar)
    fig.suptitle(result.model_name)
    return fig


def _plot_planes(result, planes: dict[str, np.ndarray], axes: tuple[str, str],
                 extent: list[float], times=None, scalar=None, where: str = "") -> Figure:
    """Rows of 2-D snapshots: ``planes[name]`` has shape (len(t), n_first_axis, n_second_axis)."""
    t = np.asarray(result.t)
    idx = _snapshot_indices(t, times)
    rows = len(planes) + (1 if scalar else 0)
    cols = len(idx)
    aspect = _aspect(extent)
    # Panels 3 inches wide, as tall as the domain drawn to scale (flat domains get flat rows), on fixed
    # margins in inches: ticks and axis labels left and below, titles above, the colour bars right.
    panel = 3.0 if cols <= 3 else 2.2
    ratio = abs(extent[3] - extent[2]) / abs(extent[1] - extent[0]) if aspect == "equal" else 0.8
    panel_height = min(max(panel * ratio, 1.2), 3.6)
    # the panels of a row share their axes: tick labels on the left and bottom panels only (drawing
    # every panel's ticks was half of a six-panel picture's time)
    # between rows of images only titles (x labels are under the last one), above a time-series row labels too
    left, right, top, bottom, across, down = 0.75, 1.1, 0.65, 0.5, 0.35, 0.85 if scalar else 0.45
    width = left + cols * panel + (cols - 1) * across + right
    height = top + rows * panel_height + (rows - 1) * down + bottom
    fig = new_figure(width, height, layout=None)
    grid = fig.add_gridspec(rows, cols, left=left / width, right=1 - right / width, bottom=bottom / height,
                            top=1 - top / height, wspace=across / panel, hspace=down / panel_height)
    for r, (name, u) in enumerate(planes.items()):
        lo, hi = _color_limits(u[idx])
        for c, i in enumerate(idx):
            ax = fig.add_subplot(grid[r, c])
            # Arrays are indexed (first axis, second axis); imshow wants rows = vertical.
            im = ax.imshow(_decimated(u[i].T), origin="lower", extent=extent, aspect=aspect,
                           vmin=lo, vmax=hi, interpolation="nearest")
            # y given: the title sits on the frame (no top ticks here), without matplotlib measuring
            # the axis's bounding box for a place at every draw (a tenth of the picture's time)
            ax.set_title(f"{name}, t={t[i]:.4g}{where}", fontsize="medium", y=1.0)
            if r == len(planes) - 1:
                ax.xaxis.set_major_locator(MaxNLocator(3))  # labels of neighbouring panels apart
                ax.set_xlabel(axes[0])
            else:            # the rows share the horizontal axis: its labels under the last row only
                ax.set_xticks([])
            if c == 0:
                ax.yaxis.set_major_locator(MaxNLocator(5))
                ax.set_ylabel(axes[1])
            else:
                ax.set_yticks([])
        row_bottom = (bottom + (rows - 1 - r) * (panel_height + down)) / height
        bar = fig.add_axes((1 - (right - 0.2) / width, row_bottom, 0.15 / width, panel_height / height))
        fig.colorbar(im, cax=bar, label=name, ticks=MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
    if scalar:
        _time_series(fig.add_subplot(grid[rows - 1, :]), t, scalar)
    return fig


def _plot_2d(result, times=None) -> Figure:
    (xn, x), (yn, y) = result.coords.items()
    grid, scalar = _split_fields(result)
    extent = [*cell_edges(x), *cell_edges(y)]
    fig = _plot_planes(result, grid, (xn, yn), extent, times, scalar)
    fig.suptitle(result.model_name)
    return fig


def _plot_3d(result, times=None) -> Figure:
    (xn, x), (yn, y), (zn, z) = result.coords.items()
    grid, scalar = _split_fields(result)
    k = len(z) // 2
    planes = {name: u[..., k] for name, u in grid.items()}
    extent = [*cell_edges(x), *cell_edges(y)]
    fig = _plot_planes(result, planes, (xn, yn), extent, times, scalar, where=f", {zn}={z[k]:.4g}")
    fig.suptitle(f"{result.model_name} (slice {zn}={z[k]:.4g}, index {k} of {len(z)})")
    return fig


_PLOTTERS = {0: _plot_ode, 1: _plot_1d, 2: _plot_2d, 3: _plot_3d}


# -- dispatcher -----------------------------------------------------------------

def plot_result(result, path=None, *, times: Sequence[float] | None = None):
    """Draw ``result`` and write it to ``path`` (atomically), or return the Figure if ``path`` is None.

    ``times`` selects the snapshot times for grid results (nearest saved
    states); by default up to SNAPSHOTS (6) evenly spaced saved states are shown.
    The file format follows the suffix of ``path`` (PNG if unknown or absent).
    """
    ndim = len(result.coords)
    if ndim not in _PLOTTERS:
        raise SymsimError(f"cannot plot a result with {ndim} axes (at most 3 supported)")
    if len(result.t) == 0:
        raise SymsimError(f"result of model {result.model_name!r} has no saved states to plot")
    fig = _PLOTTERS[ndim](result, times=times)
    if path is None:
        return fig
    return save_figure(fig, path)
