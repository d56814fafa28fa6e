"""Animations: one frame per save, signed fields on a diverging scale centred on zero, clear errors."""

import numpy as np
import pytest
from PIL import Image

import symsim
from symsim.animation import animate_result, color_scale
from symsim.cli import main
from symsim.errors import OptionError
from symsim.result import Result


def test_every_save_is_a_frame_of_the_gif(tmp_path):
    result = symsim.simulate(symsim.load_model("heat_2d").with_points(x=33, y=33), t_end=0.02, saves=6)
    frames = []
    path = animate_result(result, tmp_path / "heat.gif", progress=frames.append)
    with Image.open(path) as movie:
        assert movie.n_frames == 7
    assert len(frames) == 7 and [p.name for p in tmp_path.iterdir()] == ["heat.gif"]   # no temporary left


@pytest.mark.parametrize("name", ["sine_gordon_1d", "lorenz", "gray_scott"])
def test_1d_ode_and_two_field_results_animate_with_either_scale(tmp_path, name):
    model = symsim.load_model(name)
    if model.grid is not None:
        model = model.with_points(**{a.name: 24 + (0 if a.periodic else 1) for a in model.grid.axes})
    result = symsim.simulate(model, t_end={"sine_gordon_1d": 5.0, "lorenz": 2.0, "gray_scott": 50.0}[name], saves=4)
    for scale in ("shared", "frame"):
        with Image.open(animate_result(result, tmp_path / f"{name}_{scale}.gif", scale=scale)) as movie:
            assert movie.n_frames == 5


def test_signed_values_get_a_diverging_scale_centred_on_zero():
    assert color_scale(np.array([-0.5, 0.0, 2.0])) == (-2.0, 2.0, "RdBu_r")
    assert color_scale(np.array([0.1, 0.3])) == (0.1, 0.3, "viridis")
    lo, hi, cmap = color_scale(np.array([np.nan, 1.0, 1.0]))
    assert lo < 1.0 < hi and cmap == "viridis"


def test_unknown_formats_and_scales_are_refused_before_the_run(tmp_path, capsys):
    result = Result("m", np.linspace(0, 1, 3), fields={"a": np.arange(3.0)})
    with pytest.raises(OptionError, match="write a .gif or an .mp4"):
        animate_result(result, tmp_path / "a.avi")
    with pytest.raises(OptionError, match="choose shared or frame"):
        animate_result(result, tmp_path / "a.gif", scale="log")
    assert main(["run", "heat_1d", "--t-end", "0.01", "-o", str(tmp_path / "h.npz"), "--animate",
                 str(tmp_path / "h.webm")]) == 1
    assert "--animate" in capsys.readouterr().err and not (tmp_path / "h.npz").exists()
    assert main(["run", "heat_1d", "--t-end", "0.01", "--saves", "3", "-o", str(tmp_path / "h.npz"), "--animate",
                 str(tmp_path / "h.gif"), "--quiet", "--no-plot"]) == 0
    assert f"wrote {tmp_path / 'h.npz'}, {tmp_path / 'h.gif'}" in capsys.readouterr().out
