"""Animations of simulation results: one frame per saved state, as GIF (Pillow) or MP4 (ffmpeg).

    animate_result(result, "heat.gif")                 # colour scale shared by every frame
    animate_result(result, "wave.mp4", scale="frame")  # each frame scaled to its own range

Grid fields are drawn as in the static picture (:mod:`symsim.plotting`): 1-D fields as curves
over the axis, 2-D fields as images, 3-D fields as the mid-plane slice across the last axis;
ODE systems as their time series drawn up to each frame's time. A field that takes both signs
gets a diverging colour map centred on zero (blue below, red above, white at zero), so that the
sign reads at a glance; other fields get viridis. Frames are written to a temporary file that
replaces the target only once complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import OptionError, SymsimError
from .plotting import DPI, _decimated, cell_edges, new_figure

__all__ = ["animate_result", "ANIMATION_FORMATS", "ANIMATION_SCALES"]

#: file suffix -> matplotlib movie writer
ANIMATION_FORMATS = {".gif": "pillow", ".mp4": "ffmpeg"}
#: how the colour (or value) range is chosen: over every frame, or per frame
ANIMATION_SCALES = ("shared", "frame")
FRAMES_PER_SECOND = 8


def check_animation_path(path) -> Path:
    """The target's format is one symsim writes, and its writer is available here (before any work)."""
    from matplotlib import animation

    path = Path(path)
    writer = ANIMATION_FORMATS.get(path.suffix.lower())
    if writer is None:
        raise OptionError(f"--animate {path}: write a .gif or an .mp4")
    if not animation.writers.is_available(writer):
        raise OptionError(f"--animate {path}: .mp4 needs ffmpeg on the PATH, which this machine lacks; "
                          "write a .gif instead")
    return path


def color_scale(values: np.ndarray) -> tuple[float, float, str]:
    """(vmin, vmax, colour map) of ``values``: symmetric about zero with a diverging map when they take
    both signs, their finite range with viridis otherwise."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -1.0, 1.0, "viridis"
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0 < hi:
        bound = max(-lo, hi)
        return -bound, bound, "RdBu_r"
    if lo == hi:
        pad = abs(lo) * 1e-3 or 1e-3
        lo, hi = lo - pad, hi + pad
    return lo, hi, "viridis"


def animate_result(result, path, scale: str = "shared", progress=None) -> Path:
    """Write an animation of every save of ``result`` to ``path`` (.gif or .mp4); returns the path.

    ``scale``: ``shared`` (one range for all frames: values compare across time) or ``frame``
    (each frame's own range: structure stays visible while a field decays). ``progress(frame)``
    is called after each frame is drawn.
    """
    from matplotlib import animation

    path = check_animation_path(path)
    if scale not in ANIMATION_SCALES:
        raise OptionError(f"animation scale {scale!r}: choose {' or '.join(ANIMATION_SCALES)}")
    if len(result.t) == 0:
        raise SymsimError(f"result of model {result.model_name!r} has no saved states to animate")
    figure, update = _frames(result, scale)
    movie = animation.FuncAnimation(figure, update, frames=len(result.t), blit=False)
    writer = animation.writers[ANIMATION_FORMATS[path.suffix.lower()]](fps=FRAMES_PER_SECOND)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        movie.save(temporary, writer=writer, dpi=DPI,
                   progress_callback=(lambda frame, total: progress(frame)) if progress else None)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return path


def _frames(result, scale: str):
    """(figure, update(frame)) for the kind of result."""
    t = np.asarray(result.t)
    axes = list(result.coords)
    fields = {name: np.asarray(values) for name, values in result.fields.items()}
    grid = {name: v for name, v in fields.items() if v.ndim == len(axes) + 1 and axes}
    if not grid:
        return _ode_frames(result, t, fields)
    if len(axes) == 1:
        return _line_frames(result, t, grid, scale)
    x, y = (np.asarray(result.coords[a]) for a in axes[:2])
    if len(axes) == 3:
        z = np.asarray(result.coords[axes[2]])
        k = len(z) // 2
        grid = {name: u[..., k] for name, u in grid.items()}
        where = f", {axes[2]}={z[k]:.4g}"
    else:
        where = ""
    return _image_frames(result, t, grid, (axes[0], axes[1]), [*cell_edges(x), *cell_edges(y)], scale, where)


def _image_frames(result, t, planes: dict, names: tuple, extent: list, scale: str, where: str):
    figure = new_figure(4.2 * len(planes), 3.8)
    images, titles = [], []
    for k, (name, u) in enumerate(planes.items()):
        axis = figure.add_subplot(1, len(planes), k + 1)
        lo, hi, cmap = color_scale(u if scale == "shared" else u[0])
        image = axis.imshow(_decimated(u[0].T), origin="lower", extent=extent, vmin=lo, vmax=hi, cmap=cmap,
                            interpolation="nearest")
        axis.set_xlabel(names[0])
        axis.set_ylabel(names[1])
        figure.colorbar(image, ax=axis, label=name)
        images.append(image)
        titles.append(axis)
    figure.suptitle(result.model_name)

    def update(i):
        for (name, u), image, axis in zip(planes.items(), images, titles):
            image.set_data(_decimated(u[i].T))
            if scale == "frame":
                lo, hi, cmap = color_scale(u[i])
                image.set_clim(lo, hi)
                image.set_cmap(cmap)
            axis.set_title(f"{name}, t={t[i]:.4g}{where}")
        return images
    update(0)
    return figure, update


def _line_frames(result, t, fields: dict, scale: str):
    (xname, x), = result.coords.items()
    figure = new_figure(7, 2.2 + 1.6 * len(fields))
    lines, axes = [], []
    for k, (name, u) in enumerate(fields.items()):
        axis = figure.add_subplot(len(fields), 1, k + 1)
        (line,) = axis.plot(x, u[0])
        axis.set_ylabel(name)
        axis.grid(True, alpha=0.3)
        if scale == "shared":
            lo, hi, _ = color_scale(u)
            axis.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        lines.append(line)
        axes.append(axis)
    axes[-1].set_xlabel(xname)

    def update(i):
        for (name, u), line, axis in zip(fields.items(), lines, axes):
            line.set_ydata(u[i])
            if scale == "frame":
                lo, hi, _ = color_scale(u[i])
                axis.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        axes[0].set_title(f"{result.model_name}, t={t[i]:.4g}")
        return lines
    update(0)
    return figure, update


def _ode_frames(result, t, fields: dict):
    figure = new_figure(7, 4)
    axis = figure.add_subplot(1, 1, 1)
    lines = [axis.plot(t[:1], np.atleast_1d(v)[:1], label=name)[0] for name, v in fields.items()]
    everything = np.concatenate([np.atleast_1d(v).ravel() for v in fields.values()])
    lo, hi, _ = color_scale(everything)
    axis.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
    axis.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    axis.set_xlabel("t")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="upper right")

    def update(i):
        for line, values in zip(lines, fields.values()):
            line.set_data(t[:i + 1], np.atleast_1d(values)[:i + 1])
        axis.set_title(f"{result.model_name}, t={t[i]:.4g}")
        return lines
    update(0)
    return figure, update
