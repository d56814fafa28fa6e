"""The weak form of PDE snapshots (symsim.discovery.weak_form) and the elimination path that picks term sets."""

import runpy
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

from symsim.discovery.observations import DataError, Observations
from symsim.discovery.proposals import elbow_supports, sindy_proposals, template_model
from symsim.discovery.refinement import readable
from symsim.discovery.weak_form import _bump_matrices, _contract, _strides, library_terms, weak_problem
from symsim.vectorize import numpy_function


def observations(t, coords, values, periodic=None, names=("u",)):
    return Observations("test", names, (t,), (values,), coords, tuple(coords) if periodic is None else periodic)


def test_the_library_differentiates_monomials_up_to_the_derivative_degree():
    model = template_model(observations(np.arange(10.0), {"x": np.arange(8.0), "y": np.arange(8.0)},
                                        np.zeros((10, 8, 8, 2)), names=("u", "v")))
    fields = tuple(model.field_functions.values())
    axes = sympy.symbols("x y")
    linear = [readable(t) for _, _, t in library_terms(fields, axes, 2, 1, derivative_degree=1)]
    assert sorted(linear) == sorted(["1", "u", "v", "u**2", "u*v", "v**2", "u_x", "u_y", "v_x", "v_y"])
    full = library_terms(fields, axes, 2, 2)
    assert len(full) == 6 + 5 * 5          # 6 monomials; 5 non-constant ones, each with x, y, xx, xy, yy
    u, v = fields
    assert any(t == (u * v).diff(axes[0], axes[1]) for _, _, t in full)


@settings(max_examples=15, deadline=None)
@given(diffusion=st.floats(0.01, 0.2), modes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       n=st.sampled_from([48, 64, 96]), periodic=st.booleans())
def test_an_exact_heat_solution_satisfies_the_weak_form(diffusion, modes, n, periodic):
    length = 2 * np.pi
    x = length * np.arange(n) / n
    t = np.linspace(0.0, 2.0, 81)
    u = sum(np.exp(-diffusion * k ** 2 * t)[:, None] * np.sin(k * x[None, :] + 0.3 * k) for k in modes)
    data = observations(t, {"x": x}, u[..., None], periodic=("x",) if periodic else ())
    fields = tuple(template_model(data).field_functions.values())
    theta, target, terms = weak_problem(data, fields, 1, 2, half_widths={"t": 12, "x": 10})
    column = [readable(term) for term in terms].index("u_xx")
    residual = np.linalg.norm(target[:, 0] - diffusion * theta[:, column]) / np.linalg.norm(target[:, 0])
    assert residual < 2e-4         # the rectangle rule on the bumps; a wrong sign or scale is O(1)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), periodic=st.booleans())
def test_each_column_is_its_term_integrated_against_the_test_functions(seed, periodic):
    """Integration by parts moved every derivative onto the bumps: the library column equals the term
    itself, differentiated analytically and integrated directly, for smooth random 2-D fields."""
    rng = np.random.default_rng(seed)
    n, length = 64, 2 * np.pi
    x = length * np.arange(n) / n
    t = np.linspace(0.0, 1.0, 41)
    tt, xx, yy = np.meshgrid(t, x, x, indexing="ij")
    symbols = sympy.symbols("t x y")
    waves = []
    for _ in range(2):
        a, b, c, phase = rng.choice([-2, -1, 1, 2], 2).tolist() + [rng.uniform(0.5, 1.5), rng.uniform(0, 6)]
        waves.append(0.5 + 0.3 * sympy.sin(a * symbols[1] + b * symbols[2] + c * symbols[0] + phase))
    values = np.stack([numpy_function(symbols, w)(tt, xx, yy) * np.ones_like(tt) for w in waves], axis=-1)
    data = observations(t, {"x": x, "y": x}, values, periodic=("x", "y") if periodic else (), names=("u", "v"))
    fields = tuple(template_model(data).field_functions.values())
    widths = {"t": 8, "x": 10, "y": 9}
    theta, target, terms = weak_problem(data, fields, 2, 2, half_widths=widths)
    substitute = dict(zip(fields, waves))
    strides = _strides(values.shape[:-1], widths, ("t", "x", "y"), data.periodic)
    bumps = [_bump_matrices(len(t), 8, 6, t[1] - t[0], strides[0], False, 0)[0]] + \
            [_bump_matrices(n, widths[a], 6, x[1] - x[0], s, periodic, 0)[0] for a, s in zip("xy", strides[1:])]
    for j in rng.choice(len(terms), 8, replace=False):
        exact = numpy_function(symbols, terms[j].subs(substitute).doit())(tt, xx, yy) * np.ones_like(tt)
        direct = _contract(exact, bumps).ravel()
        # equal up to the rectangle rule's error on these few samples (a wrong sign or scale is O(1))
        assert np.abs(theta[:, j] - direct).max() <= 1e-2 * np.abs(direct).max() + 1e-12, readable(terms[j])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), columns=st.integers(4, 14), size=st.integers(1, 3))
def test_the_first_elbow_is_the_sparse_support(seed, columns, size):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((300, columns)) * rng.uniform(0.1, 10.0, columns)
    support = sorted(rng.choice(columns, size, replace=False))
    weights = rng.choice([-1, 1], size) * rng.uniform(0.5, 2.0, size)
    target = theta[:, support] @ weights
    target = target + 1e-3 * np.linalg.norm(target) / np.sqrt(300) * rng.standard_normal(300)
    residual, found = elbow_supports(theta, target)[0]
    assert [j for j, _ in found] == support
    assert np.allclose([c for _, c in found], weights, rtol=1e-2)


def gray_scott_snapshots():
    """A small Gray-Scott run by the benchmark's spectral solver (not symsim's): (t, x, values, true terms)."""
    make = runpy.run_path(str(Path(__file__).resolve().parent.parent / "benchmarks" / "discover.py"))["gray_scott_data"]
    t, coords, values, truth = make(n=64, length=0.625, t_end=600.0, seed=3, seeds=5, radii=(0.1, 0.14))
    return t, coords["x"], values, truth


def terms_and_coefficients(rate) -> dict:
    return {readable(t.as_coeff_Mul()[1]): float(t.as_coeff_Mul()[0]) for t in sympy.Add.make_args(sympy.expand(rate))}


def test_gray_scott_terms_come_back_from_noisy_2d_snapshots():
    t, x, clean, truth = gray_scott_snapshots()
    rng = np.random.default_rng(0)
    noisy = clean + 0.01 * clean.std(axis=(0, 1, 2)) * rng.standard_normal(clean.shape)
    data = observations(t, {"x": x, "y": x}, noisy, names=("u", "v"))
    best = sindy_proposals(data, "weak-sindy", degree=3, derivative_order=2)[0]
    for rate, true in zip(best.rates, truth):
        found = terms_and_coefficients(rate)
        assert set(found) == set(true)
        for name, value in true.items():
            assert found[name] == pytest.approx(value, rel=0.02), name


def test_too_few_snapshots_for_the_test_functions_is_one_line():
    x = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    t = np.linspace(0, 1, 6)
    data = observations(t, {"x": x}, np.sin(x[None, :] + t[:, None])[..., None])
    with pytest.raises(DataError, match="too few samples along t"):
        sindy_proposals(data, "weak-sindy", degree=2, derivative_order=2)


@pytest.mark.slow
def test_gray_scott_round_trip_through_discover(tmp_path):
    """Spectral-solver data in, the exact Gray-Scott system out (coefficients within 2 % after the
    simulation fit), and the written model script replays the data."""
    import symsim
    from symsim.discovery import discover

    t, x, clean, truth = gray_scott_snapshots()
    rng = np.random.default_rng(1)
    noisy = clean + 0.01 * clean.std(axis=(0, 1, 2)) * rng.standard_normal(clean.shape)
    np.savez(tmp_path / "gs.npz", t=t, x=x, y=x, u=noisy[..., 0], v=noisy[..., 1])
    found = discover(tmp_path / "gs.npz", periodic=["x", "y"], degree=3, derivative_order=2)
    assert found.best.proposal.method == "weak-sindy" and "sindy" in found.skipped     # strong form not needed
    for rate, true in zip(found.best.rates, truth):
        terms = terms_and_coefficients(rate)
        assert set(terms) == set(true)
        for name, value in true.items():
            assert terms[name] == pytest.approx(value, rel=0.02), name
    found.write(tmp_path / "out")
    replay = symsim.simulate(symsim.load_model(tmp_path / "out" / "model.py"))
    error = np.linalg.norm(replay["v"] - clean[..., 1]) / np.linalg.norm(clean[..., 1])
    assert error < 0.05
