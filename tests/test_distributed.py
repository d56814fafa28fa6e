"""A grid decomposed over MPI processes: blocks, the exchange step of the walk, and runs under mpiexec
equal to the single-process run (bit for bit on the NumPy target: coordinates, kernels and reductions
are the whole grid's)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from checks import relative_difference
from symsim import Result, load_model, simulate
from symsim.codegen import function_text
from symsim.codegen.loops import Exchange, boundary_pass, exchange_overlap
from symsim.codegen.numba_backend import render_numba_module
from symsim.codegen.numpy_backend import render_numpy_module
from symsim.codegen.kernel_plan import plan_kernel
from symsim.compiler import compile_model
from symsim.decomposition import Block, block_model, block_ranges, check_layout, choose_layout, parse_layout
from symsim.errors import OptionError
from symsim.lowering import lower_to_stencils

MODELS = Path(__file__).parent / "mpi_models"
MIXED, PERIODIC_3D = str(MODELS / "mixed_2d.py"), str(MODELS / "periodic_3d.py")
WALLS = str(MODELS / "walls_2d.py")        # mixed_2d's walls without its mixed derivative
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
                               reason="needs mpi4py and mpiexec: pip install 'symsim[mpi]'")


# -- blocks, without MPI -------------------------------------------------------------------------

def test_block_ranges_are_chunks_of_the_longest_even_block():
    assert block_ranges(10, 3) == ((0, 4), (4, 4), (8, 2))
    for points in range(5, 40):
        for parts in range(1, 5):
            ranges = block_ranges(points, parts)
            assert sum(n for _, n in ranges) == points
            assert all(a + n == b for (a, n), (b, _) in zip(ranges, ranges[1:]))
            # every block starts on a multiple of the first's length (one Zarr chunk each), and the longest
            # is as short as the most even split's
            assert all(first % ranges[0][1] == 0 for first, n in ranges if n)
            assert ranges[0][1] == -(-points // parts)


def test_neighbours_wrap_only_on_periodic_axes():
    block = Block.of_rank((3, 2), 4)          # coords (2, 0)
    assert block.coords == (2, 0) and block.rank == 4
    assert block.neighbour(0, "high", periodic=False) is None
    assert block.neighbour(0, "high", periodic=True) == Block((3, 2), (0, 0)).rank
    assert block.neighbour(1, "low", periodic=True) == Block((3, 2), (2, 1)).rank


def test_layout_choice_and_refusals():
    heat = lower_to_stencils(load_model("heat_2d"))
    assert choose_layout(heat, 4) == (2, 2)
    assert choose_layout(heat, 2) in ((2, 1), (1, 2))
    assert parse_layout("2x1", 2) == (2, 1)
    with pytest.raises(OptionError, match="has 3 axes; the model's grid has 2"):
        parse_layout("2x1x1", 2)
    with pytest.raises(OptionError, match="makes 6 blocks, but 4 processes"):
        check_layout(heat, (3, 2), 4)
    narrow = lower_to_stencils(load_model(MIXED), 8)     # walls: 14 points per block at order 8
    with pytest.raises(OptionError, match=r"blocks of 9 points along x .* at least 14"):
        check_layout(narrow, (3, 1), 3)
    with pytest.raises(OptionError, match="cannot be split into 16 blocks"):
        choose_layout(narrow, 16)
    with pytest.raises(OptionError, match="no grid"):
        check_layout(lower_to_stencils(load_model("lorenz")), (), 2)


def test_block_model_owns_its_walls_and_the_whole_grids_coordinates():
    lowered = lower_to_stencils(load_model(MIXED))
    layout = (3, 2)
    for rank in range(6):
        block = Block.of_rank(layout, rank)
        local = block_model(lowered, block)
        assert local.exchanged == (0, 1)
        for k, (axis, (first, points)) in enumerate(zip(local.axes, block.ranges(lowered.shape))):
            # to the last bit: the values a kernel computes from coordinates are the whole grid's
            assert np.array_equal(axis.coordinates, lowered.axes[k].coordinates[first:first + points])
            assert axis.spacing == lowered.axes[k].spacing
        sides = {(w.axis, w.side) for w in local.walls}
        expected = {(k, side) for k in range(2) for side in ("low", "high")
                    if block.coords[k] == (0 if side == "low" else layout[k] - 1)}
        assert sides == expected


def test_exchange_is_a_step_of_the_boundary_pass_in_every_printed_backend():
    lowered = lower_to_stencils(load_model(MIXED))
    local = block_model(lowered, Block.of_rank((2, 2), 1))
    steps = boundary_pass(local).loops
    exchanges = [i for i, s in enumerate(steps) if isinstance(s, Exchange)]
    # axis by axis: the exchange along x, x's walls, then the exchange along y, y's walls (corners as on one grid)
    assert [steps[i].axis for i in exchanges] == [0, 1]
    assert all("x=" in s.name for s in steps[1:exchanges[1]])
    plan = plan_kernel(local)
    assert "_exchange(state, 0)" in render_numpy_module(plan)
    numba_source = render_numba_module(plan)
    assert "def _boundaries(t, _state" in numba_source and "_exchange(_state, 1)" in numba_source
    module = compile_model(local, target="numpy").module
    with pytest.raises(RuntimeError, match="symsim.distributed"):
        module._exchange(None, 0)
    # a grid of one block has no exchange
    assert not any(isinstance(s, Exchange) for s in boundary_pass(lowered).loops)


# -- runs under mpiexec --------------------------------------------------------------------------

def _cases(target_models, methods, orders, layouts=(None,)):
    cases = []
    for model, t_end in target_models:
        for method in methods:
            for order in orders:
                for layout in layouts:
                    name = f"{Path(model).stem}-{method}-{order}-{layout}"
                    cases.append({"name": name, "model": model, "target": "numpy", "method": method,
                                  "layout": layout, "space_order": order, "t_end": t_end})
    return cases


def _run_under_mpiexec(processes: int, cases: list, folder: Path) -> None:
    (folder / "cases.json").write_text(json.dumps(cases))
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([MPIEXEC, "-n", str(processes), sys.executable, str(MODELS / "run_cases.py"),
                           str(folder / "cases.json"), str(folder)], capture_output=True, text=True, timeout=600,
                          env=environment)
    assert done.returncode == 0, done.stderr[-3000:]


def _assert_equal_to_round_off(decomposed: Result, reference: Result, name: str) -> None:
    """Every field of a decomposed run within 1e-12 of the single-process run's, relative to its largest value."""
    for field in reference.fields:
        difference = relative_difference(reference[field], decomposed[field])
        assert difference <= 1e-12, (name, field, difference)


def _single_process(case: dict) -> Result:
    return simulate(case["model"], t_end=case["t_end"], method=case["method"], target="numpy", saves=3,
                    space_order=case["space_order"], egraph=False)


ALL_BOUNDARIES = [("heat_1d", 0.02), ("advection_1d", 0.05), (MIXED, 0.05), (PERIODIC_3D, 0.02)]


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2, 4])
def test_decomposed_runs_equal_the_single_process_run(processes, tmp_path):
    """1-, 2- and 3-D; periodic, Dirichlet (time- and coordinate-dependent) and Neumann walls; a mixed
    derivative that reads halo corners; orders 2 and 8; every explicit method; automatic layouts."""
    cases = _cases(ALL_BOUNDARIES, ("euler", "rk4", "ssprk3", "dopri5"), (2, 8))
    if processes == 4:       # uneven blocks, and layouts along one axis
        cases += _cases([(MIXED, 0.05)], ("rk4", "dopri5"), (2,), ("4x1", "1x4"))
        cases += _cases([(PERIODIC_3D, 0.02)], ("ssprk3",), (4,), ("2x2x1",))
    _run_under_mpiexec(processes, cases, tmp_path)
    for case in cases:
        decomposed, reference = Result.load(tmp_path / f"{case['name']}.npz"), _single_process(case)
        assert decomposed.stats.get("processes", 1) == processes
        _assert_equal_to_round_off(decomposed, reference, case["name"])
        np.testing.assert_array_equal(decomposed.coords["x"], reference.coords["x"])


def test_a_block_overlaps_its_exchange_where_no_stencil_reads_a_halo_corner():
    """The deep points (whose stencil reads no exchanged halo) and the rim boxes cover the interior
    once; the stage passes after the first run in two parts around the exchange; a mixed derivative
    (it reads halo corners, which an exchange of every axis at once leaves as they were) runs without."""
    local = block_model(lower_to_stencils(load_model(WALLS), 4), Block.of_rank((2, 2), 3), overlap=True)
    plan = plan_kernel(local)
    overlap = exchange_overlap(plan)
    covered = np.zeros(local.padded_shape, dtype=int)
    for region in (overlap.deep, *overlap.rim):
        covered[tuple(slice(*bounds) for bounds in region)] += 1
    inside = tuple(slice(h, h + a.points) for h, a in zip(local.halo, local.axes))
    assert (covered[inside] == 1).all() and covered.sum() == covered[inside].sum()
    assert overlap.deep == ((local.halo[0] + 2, local.halo[0] + local.axes[0].points - 2),
                            (local.halo[1] + 2, local.halo[1] + local.axes[1].points - 2))   # order 4 reaches 2
    source = render_numba_module(plan)
    step = function_text(source, "rk4_step")
    assert step.count("_exchange_begin(") == 3 and step.count("_boundaries(") == 1    # the step's end: whole
    assert "def _walls(" in source and "_exchange(" not in function_text(source, "_walls")
    mixed = plan_kernel(block_model(lower_to_stencils(load_model(MIXED)), Block.of_rank((2, 2), 3), overlap=True))
    assert exchange_overlap(mixed) is None and "_exchange_begin(" not in function_text(
        render_numba_module(mixed), "rk4_step")
    assert exchange_overlap(plan_kernel(lower_to_stencils(load_model(WALLS)))) is None     # one block
    assert exchange_overlap(plan_kernel(block_model(lower_to_stencils(load_model(WALLS)), Block.of_rank((2, 2), 3)))) \
        is None                                                                              # not asked for


@needs_mpi
@pytest.mark.slow
def test_decomposed_numba_runs_that_overlap_the_exchange_equal_the_single_process_run(tmp_path):
    """Walls of every kind on blocks of 2x2, 4x1 and 1x4 (and periodic Gray-Scott, 1-D heat and advection),
    each stage pass run in two parts around an exchange of every axis at once."""
    cases = [{"name": f"walls-{method}-{order}-{layout}", "model": WALLS, "target": "numba", "method": method,
              "layout": layout, "space_order": order, "t_end": 0.05, "overlap": True}
             for method, order, layout in [("rk4", 2, "2x2"), ("ssprk3", 4, "2x2"), ("rk4", 2, "4x1"),
                                           ("ssprk3", 2, "1x4"), ("euler", 2, None)]]
    cases += [{"name": name, "model": name, "target": "numba", "method": method, "layout": None, "space_order": 2,
               "t_end": t_end, "overlap": True}
              for name, method, t_end in [("gray_scott", "rk4", 5.0), ("heat_1d", "ssprk3", 0.02),
                                          ("advection_1d", "rk4", 0.05)]]
    _run_under_mpiexec(4, cases, tmp_path)
    for case in cases:
        decomposed = Result.load(tmp_path / f"{case['name']}.npz")
        assert decomposed.stats["processes"] == 4
        reference = simulate(case["model"], t_end=case["t_end"], method=case["method"], target="numba", saves=3,
                             space_order=case["space_order"], egraph=False)
        _assert_equal_to_round_off(decomposed, reference, case["name"])


@needs_mpi
@pytest.mark.slow
def test_decomposed_numba_runs_equal_the_single_process_run(tmp_path):
    cases = [{"name": "mixed", "model": MIXED, "target": "numba", "method": "dopri5", "layout": "3x1",
              "space_order": 2, "t_end": 0.05, "egraph": True},
             {"name": "gray_scott", "model": "gray_scott", "target": "numba", "method": "rk4", "layout": None,
              "space_order": 2, "t_end": 5.0, "egraph": True}]
    _run_under_mpiexec(3, cases, tmp_path)
    for case in cases:
        decomposed = Result.load(tmp_path / f"{case['name']}.npz")
        reference = simulate(case["model"], t_end=case["t_end"], method=case["method"], target="numba", saves=3)
        _assert_equal_to_round_off(decomposed, reference, case["name"])


@needs_mpi
@pytest.mark.slow
def test_a_decomposed_run_writes_its_blocks_into_one_zarr_store(tmp_path):
    """No gathering: each rank writes its (uneven) block of every save; the store reads back as the
    single-process result, with its chunks the blocks and the whole grid's diagnostics."""
    import xarray
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([MPIEXEC, "-n", "3", sys.executable, "-m", "symsim.cli", "run", MIXED, "--quiet",
                           "--decompose", "1x3", "-o", str(tmp_path / "mixed.zarr")], capture_output=True, text=True,
                          env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "on 3 processes (1x3 blocks); wrote" in done.stdout and (tmp_path / "mixed.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.png", "mixed.zarr"]
    stored, reference = Result.load(tmp_path / "mixed.zarr"), simulate(MIXED, egraph=True)
    for field in reference.fields:
        np.testing.assert_allclose(stored[field], reference[field], rtol=0, atol=1e-13)
        np.testing.assert_allclose(stored.stats["diagnostics"][field]["l2"], reference.stats["diagnostics"][field]["l2"],
                                   rtol=1e-13)
    dataset = xarray.open_zarr(tmp_path / "mixed.zarr")
    assert dataset["u"].dims == ("t", "x", "y") and dataset["u"].encoding["chunks"] == (1, 31, 10)
    assert dataset.attrs["model"] == "mixed_2d" and dataset.attrs["param_D"] == 0.05


def test_a_result_round_trips_through_a_zarr_store(tmp_path):
    result = simulate("heat_1d", t_end=0.01, saves=3)
    path = result.save(tmp_path / "heat.zarr")
    back = Result.load(path)
    np.testing.assert_array_equal(back["u"], result["u"])
    assert back.stats["method"] == result.stats["method"] and back.params == result.params
    assert [p.name for p in tmp_path.iterdir()] == ["heat.zarr"]


@needs_mpi
def test_cli_under_mpiexec_writes_once_and_refuses_in_one_line(tmp_path):
    symsim = [sys.executable, "-m", "symsim.cli"]
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([MPIEXEC, "-n", "2", *symsim, "run", "heat_2d", "--t-end", "0.002", "--quiet",
                           "-o", str(tmp_path / "heat.npz"), "--no-plot"], capture_output=True, text=True,
                          env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote") == 1 and "on 2 processes (2x1 blocks)" in done.stdout
    assert Result.load(tmp_path / "heat.npz")["u"].shape == (21, 129, 129)
    refused = subprocess.run([MPIEXEC, "-n", "2", *symsim, "run", "heat_2d", "--decompose", "3x1", "-o",
                              str(tmp_path / "no.npz")], capture_output=True, text=True, env=environment, timeout=300)
    assert refused.returncode == 1 and not (tmp_path / "no.npz").exists()
    assert refused.stderr.strip() == ("symsim: error: --decompose 3x1 makes 3 blocks, but 2 processes were started "
                                      "(mpirun -n 3 symsim run ...)")
