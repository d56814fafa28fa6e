"""The ``symsim`` command line: one-line errors with a non-zero exit and no output files on bad
input; ``run`` and ``compile`` outputs on good input.

Most cases call :func:`symsim.cli.main` in-process (fast); a few run
``python -m symsim.cli`` as a real process to prove the exit status and stderr.
"""

import json
import re
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from symsim.cli import main

from scripts import DECAY, WAVE_WITHOUT_VELOCITY

REPO = Path(__file__).resolve().parent.parent

HEAT = """
from sympy import Eq, sin, pi
from symsim import Model, Grid, Dt

grid = Grid(x=(0.0, 1.0, 21))
model = Model("heat1", grid)
u = model.fields("u")
D = model.params(D=1.0)
(x,) = grid.coords
model.equations(Eq(Dt(u), D * u.diff(x, 2)))
model.initial(u=sin(pi * x))
model.dirichlet(u, x=0.0)
model.dirichlet(u, x=1.0)
"""

HEAT_WITH_DEFAULTS = HEAT + "model.defaults(t_end=0.05, saves=4)\n"



# bad model scripts: name -> (source, fragments the one error line must contain)
BAD_SCRIPTS = {
    "unknown_symbol": (DECAY.replace("-k * u", "-Symbol('rate') * u").replace(
        "from sympy import Eq", "from sympy import Eq, Symbol") + "model.defaults(t_end=1.0)\n",
        ["'rate'", "unknown symbol", "unknown_symbol.py:"]),
    "no_equation": (DECAY.replace('model.fields("u")', 'model.fields("u")\nv = model.fields("v")')
                    + "model.initial(v=0.0)\nmodel.defaults(t_end=1.0)\n",
                    ["'v'", "no equation"]),
    "no_initial": (DECAY.replace("model.initial(u=1.0)\n", "") + "model.defaults(t_end=1.0)\n",
                   ["'u'", "initial condition"]),
    "no_velocity": (WAVE_WITHOUT_VELOCITY, ["'u'", "initial velocity"]),
    "open_wall": (HEAT.replace("model.dirichlet(u, x=1.0)\n", "") + "model.defaults(t_end=0.1)\n",
                  ["'u'", "x=1.0", "boundary condition"]),
    "periodic_wall": ("""
from symsim import Model, Grid
model = Model("ring", Grid(x=(0.0, 1.0, 8), periodic=True))
u = model.fields("u")
model.neumann(u, x=1.0)
""", ["periodic_wall.py:4", "'x'", "periodic"]),
    "integral": ("""
from sympy import Eq, Integral
from symsim import Model, Grid, Dt
grid = Grid(x=(0.0, 1.0, 16), periodic=True)
model = Model("integral", grid)
u = model.fields("u")
(x,) = grid.coords
model.equations(Eq(Dt(u), Integral(u, x)))
model.initial(u=0)
model.defaults(t_end=0.1)
""", ["integral.py:7", "Integral"]),
    "non_coordinate_derivative": ("""
from sympy import Eq, Derivative
from symsim import Model, Grid, Dt
grid = Grid(x=(0.0, 1.0, 16), periodic=True)
model = Model("dpar", grid)
u = model.fields("u")
a = model.params(a=1.0)
model.equations(Eq(Dt(u), Derivative(u, a)))
model.initial(u=0)
model.defaults(t_end=0.1)
""", ["non_coordinate_derivative.py:7", "respect to a", "not a grid coordinate"]),
    "no_model": ("from symsim import Model\nthing = Model('thing')\n", ["no_model.py", "`model`"]),
    "syntax": ("from symsim import Model\nmodel = Model('s'\nx = = 1\n", ["syntax.py:2:", "syntax error"]),
    "user_exception": ("from symsim import Model\nmodel = Model('u')\n\n\nvalue = 1 / 0\n",
                       ["user_exception.py:5:", "ZeroDivisionError"]),
    "multiline_exception": ("raise ValueError('first line\\nsecond line')\n",
                            ["multiline_exception.py:1:", "first line", "second line"]),
    "not_a_wall": (HEAT.replace("model.dirichlet(u, x=1.0)", "model.dirichlet(u, x=0.5)"),
                   ["not_a_wall.py:12", "x=0.5", "not a wall"]),
    "duplicate_equation": (DECAY + "model.equations(Eq(Dt(u), k * u))\n",
                           ["duplicate_equation.py:9", "'u'", "already has an equation"]),
    "field_named_like_axis": ("""
from symsim import Model, Grid
model = Model("clash", Grid(x=(0.0, 1.0, 8)))
x = model.fields("x")
""", ["field_named_like_axis.py:3", "'x'", "grid axis"]),
    "field_named_t": ("from symsim import Model\nmodel = Model('c')\nt = model.fields('t')\n",
                      ["field_named_t.py:3", "'t'", "reserved"]),
    "no_t_end": (DECAY, ["'decay'", "t_end", "--t-end"]),
    "bad_default_space_order": (DECAY + "model.defaults(t_end=1.0, space_order=3)\n", ["space order", "3"]),
}


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own empty directory (default outputs land there) without debug tracebacks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYMSIM_DEBUG", raising=False)


def write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


def snapshot(directory):
    """Every path under ``directory`` (hidden temporaries included) with its content."""
    return {p.relative_to(directory): (p.read_bytes() if p.is_file() else None)
            for p in sorted(Path(directory).rglob("*"))}


def cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:          # argparse: --help, usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code, out, err, *fragments, status=None):
    assert code != 0 and code is not None, (code, out, err)
    if status is not None:
        assert code == status, (code, err)
    assert err.startswith("symsim: error: "), err
    assert err.endswith("\n") and err.count("\n") == 1 and "\r" not in err, repr(err)
    assert "Traceback" not in err and "Traceback" not in out
    assert out == "", out
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def assert_fails_cleanly(tmp_path, capsys, argv, fragments, status=None):
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, *argv)
    assert_one_error_line(code, out, err, *fragments, status=status)
    assert snapshot(tmp_path) == before, "a failed command must not write or leave any file"
    return err


def load_npz(path):
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


# -- bad input: one line on stderr, non-zero exit, nothing written ---------------------------

@pytest.mark.parametrize("name", sorted(BAD_SCRIPTS))
def test_run_of_a_bad_script_fails_with_one_line_and_writes_nothing(tmp_path, capsys, name):
    source, fragments = BAD_SCRIPTS[name]
    script = write(tmp_path, f"{name}.py", source)
    # no --quiet: a progress bar must not appear either, since these fail before the run starts
    assert_fails_cleanly(tmp_path, capsys, ["run", script], fragments, status=1)
    if name != "no_t_end":   # the same failure with explicit outputs in a directory that must not appear
        assert_fails_cleanly(tmp_path, capsys, ["run", script, "--t-end", "0.01", "-o", tmp_path / "sub" / "r.npz",
                                                "--plot", tmp_path / "sub" / "r.png"], fragments, status=1)


@pytest.mark.parametrize("name", ["unknown_symbol", "open_wall", "syntax", "no_model", "duplicate_equation"])
def test_compile_of_a_bad_script_fails_with_one_line_and_writes_no_directory(tmp_path, capsys, name):
    source, fragments = BAD_SCRIPTS[name]
    script = write(tmp_path, f"{name}.py", source)
    assert_fails_cleanly(tmp_path, capsys, ["compile", script, "-o", tmp_path / "build"], fragments, status=1)
    assert not (tmp_path / "build").exists()


def test_nonexistent_script_path(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "model.py"
    assert_fails_cleanly(tmp_path, capsys, ["run", missing, "--t-end", "1"], [str(missing), "no such"], status=1)
    assert_fails_cleanly(tmp_path, capsys, ["compile", "no_such_example", "-o", "build"],
                         ["no_such_example", "no such"], status=1)


def test_wrong_parameter_name_on_the_command_line(tmp_path, capsys):
    script = write(tmp_path, "decay.py", DECAY)
    assert_fails_cleanly(tmp_path, capsys, ["run", script, "--t-end", "1", "--param", "NOPE=1"],
                         ["'NOPE'", "'decay'", "parameters: k"], status=1)


@pytest.mark.parametrize("pair, fragments", [
    ("k", ["NAME=VALUE", "'k'"]), ("=1", ["NAME=VALUE", "'=1'"]), ("k=abc", ["--param k", "'abc'"]),
    ("k=", ["--param k", "not a number"]), ("k=nan", ["'k'", "finite"]),
])
def test_bad_param_syntax(tmp_path, capsys, pair, fragments):
    script = write(tmp_path, "decay.py", DECAY)
    assert_fails_cleanly(tmp_path, capsys, ["run", script, "--t-end", "1", "--param", pair], fragments, status=1)


@pytest.mark.parametrize("argv, fragments", [
    (["--space-order", "3"], ["--space-order", "3"]),
    (["--space-order", "four"], ["--space-order"]),
    (["--method", "leapfrog"], ["--method", "leapfrog"]),
    (["--t-end", "soon"], ["--t-end", "soon"]),
    (["--saves", "2.5"], ["--saves"]),
    (["--target", "opencl"], ["--target", "opencl"]),
    (["--bogus"], ["--bogus"]),
])
def test_command_line_usage_errors_exit_2_with_one_line(tmp_path, capsys, argv, fragments):
    script = write(tmp_path, "decay.py", DECAY)
    assert_fails_cleanly(tmp_path, capsys, ["run", script, "--t-end", "1", *argv], fragments, status=2)


@pytest.mark.parametrize("argv, fragments", [
    ([], ["the following arguments are required"]),
    (["frobnicate"], ["frobnicate"]),
    (["compile", "lorenz"], ["-o/--output"]),
    (["compile", "lorenz", "-o", "build", "--space-order", "5"], ["--space-order", "5"]),
])
def test_usage_errors_without_a_script(tmp_path, capsys, argv, fragments):
    assert_fails_cleanly(tmp_path, capsys, argv, fragments, status=2)


@pytest.mark.parametrize("argv, fragment", [
    (["--t-end", "-1"], "t_end"), (["--t-end", "0"], "t_end"), (["--t-end", "inf"], "t_end"),
    (["--t-end", "1", "--saves", "0"], "saves"), (["--t-end", "1", "--dt", "0"], "dt"),
    (["--t-end", "1", "--dt", "-0.5"], "dt"),
])
def test_bad_run_option_values(tmp_path, capsys, argv, fragment):
    script = write(tmp_path, "decay.py", DECAY)
    assert_fails_cleanly(tmp_path, capsys, ["run", script, *argv], [fragment], status=1)


def test_failed_run_leaves_an_existing_result_untouched(tmp_path, capsys):
    script = write(tmp_path, "decay.py", DECAY)
    (tmp_path / "old.npz").write_bytes(b"previous result")
    (tmp_path / "old.png").write_bytes(b"previous picture")
    assert_fails_cleanly(tmp_path, capsys, ["run", script, "--t-end", "1", "--param", "NOPE=2",
                                            "-o", "old.npz", "--plot", "old.png"], ["'NOPE'"])
    assert (tmp_path / "old.npz").read_bytes() == b"previous result"


def test_unstable_run_warns_then_fails_with_one_error_line_and_writes_nothing(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, "run", script, "--t-end", "1", "--dt", "0.01", "--quiet")
    *warnings, error = err.splitlines()
    assert code == 1 and out == "" and "Traceback" not in err
    # warned before the run: the step is far above the stable estimate (by how much, and the estimate)
    assert len(warnings) == 1 and warnings[0].startswith("symsim: warning: dt=0.01 is ")
    assert "x the stable step estimated for rk4" in warnings[0]
    # stopped once 'u' grew by orders of magnitude, before it overflowed to NaN
    assert error.startswith("symsim: error: field 'u' grew to ") and "unstable" in error
    assert "--dt" in error and "suggested stable dt" in error
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv, fragments", [
    (["-o", "/proc/nonexistent/x.npz"], ["-o /proc/nonexistent/x.npz", "cannot write"]),
    (["-o", "."], ["-o .", "is a directory"]),
    (["--plot", "."], ["--plot .", "is a directory"]),
    (["--saves", "100000000000"], ["GiB", "--saves", "available"]),
])
def test_outputs_and_memory_are_checked_before_the_run(tmp_path, capsys, argv, fragments, monkeypatch):
    import symsim.solve
    ran = []
    monkeypatch.setattr(symsim.solve, "integrate", lambda *a, **k: ran.append(1))
    script = write(tmp_path, "heat.py", HEAT)
    assert_fails_cleanly(tmp_path, capsys, ["run", script, "--t-end", "1", "--quiet", *argv], fragments)
    assert ran == []


def test_an_ill_posed_model_is_named_as_such(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    code, out, err = cli(capsys, "run", script, "--t-end", "0.1", "--quiet", "--param", "D=-1")
    *warnings, error = err.splitlines()
    assert code == 1 and len(warnings) == 1 and "diffuses backwards along x" in warnings[0]
    assert "ill-posed" in error and "'u'" in error and "smaller --dt" not in error


def test_a_given_step_is_kept_and_saves_between_steps_are_interpolated(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    code, out, err = cli(capsys, "run", script, "--t-end", "0.02", "--saves", "10", "--dt", "0.0008", "--quiet",
                         "--no-plot", "-o", "r.npz")
    assert code == 0 and err == "", err
    assert "25 steps of dt=0.0008" in out           # not shortened to 0.000667 to land on every save
    kept = load_npz(tmp_path / "r.npz")
    code, out, err = cli(capsys, "run", script, "--t-end", "0.02", "--saves", "10", "--dt", "0.0002", "--quiet",
                         "--no-plot", "-o", "fine.npz")
    assert code == 0 and err == "" and "100 steps of dt=0.0002" in out
    fine = load_npz(tmp_path / "fine.npz")
    # RK4 at 0.0008 with interpolated saves against RK4 at 0.0002 on the same grid: time errors only
    np.testing.assert_allclose(kept["u"], fine["u"], atol=1e-7)


# -- happy paths -------------------------------------------------------------------------

def test_run_writes_the_result_archive_and_the_picture(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    code, out, err = cli(capsys, "run", script, "--t-end", "0.05", "--saves", "5", "--quiet",
                         "-o", "results/heat.npz", "--plot", "results/heat.png")
    assert code == 0, err
    assert err == "" and "Traceback" not in out
    assert "heat1" in out and "results/heat.npz" in out and "results/heat.png" in out
    data = load_npz(tmp_path / "results" / "heat.npz")
    assert {"t", "x", "u"} <= set(data)
    np.testing.assert_allclose(data["t"], np.linspace(0.0, 0.05, 6), rtol=0, atol=1e-15)
    assert data["t"][0] == 0.0 and data["t"][-1] == 0.05
    np.testing.assert_allclose(data["x"], np.linspace(0.0, 1.0, 21), atol=1e-15)
    assert data["u"].shape == (6, 21)
    np.testing.assert_allclose(data["u"][0], np.sin(np.pi * data["x"]), atol=1e-15)
    # it is a decaying sine mode: exp(-pi^2 t) up to the discretization error
    np.testing.assert_allclose(data["u"][-1].max(), np.exp(-np.pi**2 * 0.05), rtol=5e-3)
    png = (tmp_path / "results" / "heat.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["heat.npz", "heat.png"]


def test_run_default_output_names_follow_the_model_name(tmp_path, capsys):
    script = write(tmp_path, "script_name.py", HEAT_WITH_DEFAULTS)
    code, out, err = cli(capsys, "run", script, "--quiet")
    assert code == 0, err
    assert (tmp_path / "heat1.npz").is_file() and (tmp_path / "heat1.png").is_file()
    code, out, err = cli(capsys, "run", script, "--quiet", "--no-plot", "-o", "only.npz")
    assert code == 0, err
    assert (tmp_path / "only.npz").is_file() and not (tmp_path / "only.png").exists()
    # the picture follows the result's name, not the model's
    code, out, err = cli(capsys, "run", script, "--quiet", "-o", "runs/heat_dp.npz")
    assert code == 0, err
    assert (tmp_path / "runs" / "heat_dp.png").is_file() and not (tmp_path / "runs" / "heat1.png").exists()


def test_param_override_changes_the_result(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    common = ["run", script, "--t-end", "0.05", "--saves", "2", "--quiet", "--no-plot"]
    assert cli(capsys, *common, "-o", "default.npz")[0] == 0
    assert cli(capsys, *common, "-o", "fast.npz", "--param", "D=2")[0] == 0
    default, fast = load_npz("default.npz")["u"], load_npz("fast.npz")["u"]
    np.testing.assert_array_equal(default[0], fast[0])
    assert fast[-1].max() < default[-1].max()
    np.testing.assert_allclose(fast[-1].max(), np.exp(-2 * np.pi**2 * 0.05), rtol=5e-3)
    meta = json.loads(str(load_npz("fast.npz")["_symsim_meta"][()]))
    assert meta["params"] == {"D": 2.0}


def test_script_defaults_are_used_and_flags_override_them(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT_WITH_DEFAULTS)
    assert cli(capsys, "run", script, "--quiet", "--no-plot", "-o", "defaults.npz")[0] == 0
    t = load_npz("defaults.npz")["t"]
    assert len(t) == 5 and t[-1] == 0.05
    assert cli(capsys, "run", script, "--quiet", "--no-plot", "-o", "flags.npz",
               "--t-end", "0.02", "--saves", "8")[0] == 0
    data = load_npz("flags.npz")
    np.testing.assert_allclose(data["t"], np.linspace(0.0, 0.02, 9), rtol=0, atol=1e-15)
    assert data["u"].shape == (9, 21)


def test_dopri5_reports_accepted_and_rejected_steps(tmp_path, capsys):
    script = write(tmp_path, "decay.py", DECAY)
    code, out, err = cli(capsys, "run", script, "--t-end", "2", "--saves", "4", "--method", "dopri5",
                         "--quiet", "--no-plot", "-o", "decay.npz")
    assert code == 0, err
    assert "dopri5" in out and "accepted" in out and "rejected" in out
    data = load_npz("decay.npz")
    assert data["u"].shape == (5,)
    np.testing.assert_allclose(data["u"], np.exp(-data["t"]), rtol=1e-5)


def test_space_order_4_is_used(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    common = ["run", script, "--t-end", "0.05", "--saves", "1", "--quiet", "--no-plot"]
    assert cli(capsys, *common, "-o", "o2.npz")[0] == 0
    assert cli(capsys, *common, "-o", "o4.npz", "--space-order", "4")[0] == 0
    o2, o4 = load_npz("o2.npz"), load_npz("o4.npz")
    assert json.loads(str(o4["_symsim_meta"][()]))["stats"]["space_order"] == 4
    exact = np.exp(-np.pi**2 * 0.05) * np.sin(np.pi * o4["x"])
    assert np.abs(o4["u"][-1] - exact).max() < np.abs(o2["u"][-1] - exact).max()


def test_compile_writes_an_importable_numpy_module_and_a_report(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    code, out, err = cli(capsys, "compile", script, "--target", "numpy", "-o", "build/heat")
    assert code == 0, err
    build = tmp_path / "build" / "heat"
    assert sorted(p.name for p in build.iterdir()) == ["heat1_numpy.py", "report.json"]
    assert "heat1_numpy.py" in out and "report.json" in out

    report = json.loads((build / "report.json").read_text())
    assert report["fields"] == ["u"]
    assert set(report["stencils"]) == {"u"} and report["stencils"]["u"]["points"] == 3
    for stage in ("lowered", "cse"):
        counts = report["ops_per_point"][stage]
        assert set(counts) == {"add", "mul", "div", "pow", "call", "cost"}
        assert all(isinstance(v, int) and v >= 0 for v in counts.values())

    # importable with numpy alone: sympy, symsim and codegen are blocked in a fresh interpreter
    probe = textwrap.dedent("""
        import importlib.abc, importlib.util, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("sympy", "symsim", "codegen", "mpmath"):
                    raise ImportError("blocked " + name)
        sys.meta_path.insert(0, Block())
        spec = importlib.util.spec_from_file_location("kernel", sys.argv[1])
        kernel = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(kernel)
        import numpy as np
        state = np.zeros((len(kernel.FIELDS),) + tuple(s + 2 * h for s, h in zip(kernel.SHAPE, kernel.HALO)))
        out = np.zeros_like(state)
        kernel.apply_boundaries(0.0, state, kernel.PARAMS)
        kernel.rhs(0.0, state, out, kernel.PARAMS)
        print("ok", kernel.FIELDS, kernel.SHAPE)
    """)
    done = subprocess.run([sys.executable, "-c", probe, str(build / "heat1_numpy.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok ('u',) (21,)"


def test_compile_replaces_an_existing_output_directory(tmp_path, capsys):
    script = write(tmp_path, "heat.py", HEAT)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "stale.txt").write_text("old")
    assert cli(capsys, "compile", script, "-o", "build")[0] == 0
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["heat1_numpy.py", "report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "heat.py"]


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["compile", "--help"], ["--version"]])
def test_help_and_version_exit_0(capsys, argv):
    code, out, err = cli(capsys, *argv)
    assert code == 0 and err == ""
    assert "symsim" in out


def test_run_help_lists_the_options(capsys):
    code, out, _ = cli(capsys, "run", "--help")
    for option in ("--t-end", "--dt", "--method", "--space-order", "--saves", "--param", "--plot", "-o"):
        assert option in out


def test_a_shipped_example_runs_by_bare_name(tmp_path, capsys):
    code, out, err = cli(capsys, "run", "lorenz", "--t-end", "0.1", "--quiet")
    assert code == 0, err
    data = load_npz(tmp_path / "lorenz.npz")
    assert data["t"][-1] == pytest.approx(0.1) and data["t"][0] == 0.0
    assert data["x"].shape == data["y"].shape == data["z"].shape == data["t"].shape
    assert (tmp_path / "lorenz.png").is_file()


# -- the real process ---------------------------------------------------------------------

def run_process(tmp_path, *argv):
    env = {k: v for k, v in os.environ.items() if k != "SYMSIM_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, "-m", "symsim.cli", *map(str, argv)], cwd=tmp_path, env=env,
                          capture_output=True, timeout=120)
    # decoded by hand: text=True would turn the progress bar's carriage returns into newlines
    done.stdout, done.stderr = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    return done


def test_process_bad_input_exits_1_with_one_stderr_line(tmp_path):
    source, fragments = BAD_SCRIPTS["user_exception"]
    script = write(tmp_path, "user_exception.py", source)
    before = snapshot(tmp_path)
    done = run_process(tmp_path, "run", script, "--t-end", "1")
    assert done.returncode == 1
    assert_one_error_line(done.returncode, done.stdout, done.stderr, *fragments)
    assert snapshot(tmp_path) == before


def test_process_usage_error_exits_2_with_one_stderr_line(tmp_path):
    script = write(tmp_path, "decay.py", DECAY)
    done = run_process(tmp_path, "run", script, "--space-order", "3")
    assert_one_error_line(done.returncode, done.stdout, done.stderr, "--space-order", status=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decay.py"]


def test_process_unstable_run_prints_no_numpy_warnings_and_clears_its_progress_bar(tmp_path):
    script = write(tmp_path, "heat.py", HEAT)
    done = run_process(tmp_path, "run", script, "--t-end", "1", "--dt", "0.01")   # progress bar on
    assert done.returncode == 1
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 2 and done.stderr.endswith("\n"), repr(done.stderr)
    assert done.stderr.startswith("symsim: warning: dt=0.01 is ")     # said before the bar appears
    assert done.stderr.rsplit("\r", 1)[-1].startswith("symsim: error: field 'u' grew to ")
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heat.py"]


def test_process_run_and_help_succeed(tmp_path):
    done = run_process(tmp_path, "--help")
    assert done.returncode == 0 and "run" in done.stdout and "compile" in done.stdout
    done = run_process(tmp_path, "run", "lorenz", "--t-end", "0.1", "--saves", "10", "--quiet", "--no-plot")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "lorenz" in done.stdout
    assert load_npz(tmp_path / "lorenz.npz")["t"][-1] == pytest.approx(0.1)


def test_compile_for_cuda_writes_source_without_a_gpu(tmp_path, monkeypatch):
    """Writing the CUDA module needs no GPU (and no simulator); running it does, and says so."""
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    done = run_process(tmp_path, "compile", "heat_2d", "--target", "cuda", "-o", "out")
    assert done.returncode == 0, done.stderr
    source = (tmp_path / "out" / "heat_2d_cuda.py").read_text()
    assert "cuda.jit" in source and (tmp_path / "out" / "report.json").exists()
    done = run_process(tmp_path, "run", "heat_2d", "--target", "cuda", "--t-end", "0.001", "--quiet")
    if done.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert_one_error_line(done.returncode, done.stdout, done.stderr, "no usable NVIDIA GPU", status=1)


def test_info_prints_the_model_its_stencils_costs_and_stable_steps(capsys):
    assert main(["info", "heat_2d"]) == 0
    out = capsys.readouterr().out
    assert "model heat_2d: fields u; grid x 129 points on [0, 1], y 129 points on [0, 1]" in out
    assert "parameters: D = 0.1" in out and "u: dirichlet at x low, value 0  (heat_2d.py:13)" in out
    assert "du/dt: 5 points, reach (1, 1), reads u:" in out and "cost per point (cycles): lowered 10" in out
    # heat 2-D: 8 D / h^2 bounds the real spectrum; euler is stable below 2 / that (with symsim's safety factor)
    steps = {m: float(v) for m, v in re.findall(r"(euler|rk4) ([0-9.e-]+)", out.splitlines()[-1])}
    assert steps["euler"] == pytest.approx(2 / (8 * 0.1 * 128**2), rel=0.25) and steps["rk4"] > steps["euler"]
    assert main(["info", "heat_1d", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["walls"] and set(report["steps"]) == {"euler", "ssprk3", "rk4", "dopri5"}


def test_info_names_an_ill_posed_model(tmp_path, capsys):
    script = tmp_path / "backward.py"
    script.write_text(HEAT.replace("D * u.diff(x, 2)", "-D * u.diff(x, 2)"))
    assert main(["info", str(script)]) == 0
    assert "ill-posed at t=0: anti-diffusion of u along x" in capsys.readouterr().out


def test_run_writes_netcdf_when_the_output_ends_in_nc(tmp_path, capsys):
    xarray = pytest.importorskip("xarray")
    out = tmp_path / "heat.nc"
    assert main(["run", "heat_1d", "--t-end", "0.01", "--saves", "2", "-o", str(out), "--quiet"]) == 0
    assert f"wrote {out}, {tmp_path / 'heat.png'}" in capsys.readouterr().out
    with xarray.open_dataset(out) as dataset:
        assert dataset["u"].dims == ("t", "x") and dataset.attrs["model"] == "heat_1d"
