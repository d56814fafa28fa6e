"""Every shipped example script loads, lowers, compiles to importable NumPy source and runs.

The runs are a few time steps each (the grids are fixed by the scripts, e.g.
gray_scott is 256x256), long enough to exercise boundaries and every stage.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import symsim
from symsim import Result, compile_model, load_model, lower_to_stencils

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES_DIR.glob("*.py") if p.name != "__init__.py")
SPACE_ORDERS = (2, 4)


def test_examples_are_found():
    names = {p.stem for p in SCRIPTS}
    assert {"gray_scott", "lorenz", "sine_gordon_1d", "heat_2d"} <= names


@pytest.fixture(scope="module", params=SCRIPTS, ids=lambda p: p.stem)
def example(request):
    return request.param, load_model(request.param)


def test_example_loads_as_a_model_with_equations_for_every_field(example):
    path, model = example
    assert isinstance(model, symsim.Model)
    assert model.field_functions, path
    assert {eq.field for eq in model.equation_list} == set(model.field_functions)
    assert model.run_defaults.get("t_end", 0) > 0, f"{path.name} sets no t_end default"
    # loading by bare name finds the same shipped script
    assert load_model(path.stem).name == model.name


@pytest.mark.parametrize("space_order", SPACE_ORDERS)
def test_example_lowers_at_space_order(example, space_order):
    path, model = example
    lowered = lower_to_stencils(model, space_order)
    assert lowered.space_order == space_order
    assert set(model.field_functions) <= set(lowered.fields)
    for field in lowered.fields:
        assert field in lowered.rhs and field in lowered.initial, (path.name, field)
    if model.grid is None:
        assert lowered.shape == () and lowered.halo == ()
    else:
        assert lowered.shape == model.grid.shape
        # every example differentiates along every axis with centered stencils
        assert lowered.halo == (space_order // 2,) * model.grid.ndim


def short_run_step(model, space_order):
    """The step a default run would take: the script's dt, else the suggested stable one."""
    if model.run_defaults.get("dt"):
        return float(model.run_defaults["dt"])
    probe = symsim.simulate(model, t_end=1e-9, saves=1, space_order=space_order)
    return float(probe.stats["suggested_dt"])


@pytest.mark.parametrize("space_order", SPACE_ORDERS)
def test_example_short_run_is_finite_with_the_right_shapes_and_saves_to_npz(example, space_order, tmp_path):
    path, model = example
    dt = short_run_step(model, space_order)
    assert math.isfinite(dt) and dt > 0
    saves = 3
    t_end = saves * dt
    result = symsim.simulate(model, t_end=t_end, saves=saves, space_order=space_order)
    lowered = lower_to_stencils(model, space_order)

    np.testing.assert_allclose(result.t, np.linspace(0.0, t_end, saves + 1))
    assert result.stats["space_order"] == space_order
    assert result.stats["method"] == model.run_defaults.get("method", "rk4")
    if result.stats["method"] == "dopri5":
        assert result.stats["accepted"] >= saves
    else:
        assert saves <= result.stats["steps"] <= 2 * saves   # a few steps, not a default-length run
    grid_shape = model.grid.shape if model.grid is not None else ()
    assert list(result.fields) == list(lowered.fields)
    for name, values in result.fields.items():
        assert values.shape == (saves + 1,) + grid_shape, (path.name, name)
        assert np.isfinite(values).all(), (path.name, name)
    for axis in (model.grid.axes if model.grid is not None else ()):
        assert result[axis.name].shape == (axis.points,)
        np.testing.assert_allclose(result[axis.name], axis.coordinates)

    # the run did something: some field changed (examples are not at rest)
    assert any(np.abs(v[-1] - v[0]).max() > 0 for v in result.fields.values()), path.name

    file = result.save(tmp_path / f"{path.stem}_{space_order}.npz")
    with np.load(file, allow_pickle=False) as archive:
        expected_keys = {"t", *result.coords, *result.fields}
        assert expected_keys <= set(archive.files)
        np.testing.assert_array_equal(archive["t"], result.t)
        for name in (*result.coords, *result.fields):
            np.testing.assert_array_equal(archive[name], result[name])
    loaded = Result.load(file)
    assert loaded.model_name == model.name
    assert list(loaded.fields) == list(result.fields)


def import_from_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("space_order", SPACE_ORDERS)
def test_example_generated_numpy_source_is_an_importable_module_with_the_same_rhs(example, space_order, tmp_path):
    path, model = example
    compiled = compile_model(model, target="numpy", space_order=space_order)
    module_name = f"generated_{path.stem}_order{space_order}"
    file = tmp_path / f"{module_name}.py"
    file.write_text(compiled.source, encoding="utf-8")
    module = import_from_file(file, module_name)

    lowered = compiled.lowered
    assert tuple(module.FIELDS) == lowered.fields
    assert tuple(module.SHAPE) == lowered.shape
    assert tuple(module.HALO) == lowered.halo
    assert dict(module.PARAMS) == lowered.parameters

    params = compiled.resolve_params()
    state = compiled.initial_state(params)
    expected = np.zeros_like(state)
    got = np.zeros_like(state)
    compiled.rhs(0.25, state, expected, params)
    module.rhs(0.25, state.copy(), got, params)
    assert np.isfinite(compiled.interior(expected)).all()
    np.testing.assert_array_equal(got, expected)

    # the boundary routine agrees too, on a state whose halo and walls are scrambled
    rng = np.random.default_rng(0)
    scrambled = state + rng.standard_normal(state.shape)
    a, b = scrambled.copy(), scrambled.copy()
    compiled.apply_boundaries(0.25, a, params)
    module.apply_boundaries(0.25, b, params)
    np.testing.assert_array_equal(a, b)
