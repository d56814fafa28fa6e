"""Equation discovery: symsim's closed loop against PySINDy alone, on data symsim did not make.

    python benchmarks/discover.py [--per-family 8] [--skip-ode | --skip-pde] [--only gray_scott]
                                  [--json benchmarks/discover.json]

A partial run updates its part of an existing JSON report.

PDE (1 % noise, relative to the field's standard deviation; data from NumPy pseudo-spectral
solvers written here, not from symsim):

* ``burgers``: u_t = -u u_x + 0.1 u_xx on [0, 2 pi), 256 points, t in [0, 4] at 101 snapshots;
* ``kuramoto_sivashinsky``: u_t = -u u_x - u_xx - u_xxxx on [0, 32 pi), 256 points, t in [0, 50]
  at 201 snapshots (after a spin-up of 50), ETDRK4 (Kassam & Trefethen 2005);
* ``gray_scott``: u_t = 2e-5 lap u - u v^2 + 0.04 (1 - u), v_t = 1e-5 lap v + u v^2 - 0.1 v on the
  periodic square [0, 1.25)^2, 128^2 points, t in [0, 1000] at 101 snapshots, RK4 with a spectral
  Laplacian, twelve random seeds growing into rings.

For each: ``symsim discover`` (default method: the weak form, then the strong form if needed;
periodic axes) -- its best term set and the relative error of every coefficient -- beside PySINDy
alone (STLSQ at its default threshold 0.1 and at 0.01, on its strong form with smoothed
derivatives and on its ``WeakPDELibrary``), same library (degree 2 and derivatives to 4th order;
Gray-Scott degree 3, 2nd order).

ODE, the PROSE protocol: ``--per-family`` trajectories of each of the 15 families (symsim's
PROSE generator, seed 2026, a seed no training run uses), 64 points on t in [0, 2) at 2 %
noise in, the clean trajectory on t in (2, 6] to forecast. symsim: ``discover`` on the 64
points (the last quarter held back to rank; proposals from PySINDy's two forms and the shipped
PROSE network), the best candidate integrated on from its fitted start. The PROSE network's own
continuation (no equations) is reported beside it. PySINDy alone: strong and weak form, each with the threshold (of the same ladder)
whose raw fit, integrated from the first noisy point, best matches the held-back quarter.
Medians over the trajectories; ``exact`` is the share of polynomial-family trajectories
whose best candidate has exactly the true terms.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sympy

from symsim.discovery import discover
from symsim.discovery.observations import Observations
from symsim.discovery.proposals import sindy_proposals, template_model
from symsim.discovery.refinement import candidate_model, parametrize
from symsim.prose.evaluation import relative_l2

NOISE_PDE = 0.01
#: PySINDy alone: its default STLSQ threshold, and the one PDE-FIND examples use
PYSINDY_THRESHOLDS = (0.1, 0.01)


# -- data from solvers other than symsim ------------------------------------------------------

def burgers_data(n=256, nu=0.1, t_end=4.0, snapshots=101):
    length = 2 * np.pi
    x = length * np.arange(n) / n
    k = 2 * np.pi * np.fft.rfftfreq(n, length / n)

    def rate(u):
        spectrum = np.fft.rfft(u)
        return -u * np.fft.irfft(1j * k * spectrum, n) + nu * np.fft.irfft(-k**2 * spectrum, n)

    u = np.sin(x) + 0.5 * np.cos(2 * x)
    t = np.linspace(0.0, t_end, snapshots)
    out, now, step = [u.copy()], 0.0, 1e-3
    for target in t[1:]:
        while now < target - 1e-12:
            h = min(step, target - now)
            k1 = rate(u); k2 = rate(u + h / 2 * k1); k3 = rate(u + h / 2 * k2); k4 = rate(u + h * k3)
            u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            now += h
        out.append(u.copy())
    return t, {"x": x}, np.array(out)[..., None], [{"u*u_x": -1.0, "u_xx": nu}]


def kuramoto_sivashinsky_data(n=256, t_end=50.0, interval=0.25, spinup=50.0):
    length = 32 * np.pi
    x = length * np.arange(n) / n
    v = np.fft.fft(np.cos(x / 16) * (1 + np.sin(x / 16)))
    h = 0.025
    k = 2 * np.pi / length * np.fft.fftfreq(n, 1 / n)
    linear = k**2 - k**4
    e, e2 = np.exp(h * linear), np.exp(h * linear / 2)
    roots = np.exp(1j * np.pi * (np.arange(1, 17) - 0.5) / 16)
    lr = h * linear[:, None] + roots[None, :]
    q = h * np.real(np.mean((np.exp(lr / 2) - 1) / lr, axis=1))
    f1 = h * np.real(np.mean((-4 - lr + np.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3, axis=1))
    f2 = h * np.real(np.mean((2 + lr + np.exp(lr) * (-2 + lr)) / lr**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * lr - lr**2 + np.exp(lr) * (4 - lr)) / lr**3, axis=1))
    g = -0.5j * k

    def nonlinear(v):
        return g * np.fft.fft(np.real(np.fft.ifft(v)) ** 2)

    every, first = int(round(interval / h)), int(round(spinup / h))
    out = []
    for step in range(first + int(round(t_end / h)) + 1):
        if step >= first and (step - first) % every == 0:
            out.append(np.real(np.fft.ifft(v)))
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        v = e * v + nv * f1 + 2 * (na + nb) * f2 + nonlinear(c) * f3
    return (interval * np.arange(len(out)), {"x": x}, np.array(out)[..., None],
            [{"u*u_x": -1.0, "u_xx": -1.0, "u_xxxx": -1.0}])


def gray_scott_data(n=128, length=1.25, du=2e-5, dv=1e-5, feed=0.04, kill=0.06, t_end=1000.0, interval=10.0,
                    seed=0, seeds=12, radii=(0.03, 0.08)):
    """u_t = du lap u - u v^2 + F (1 - u), v_t = dv lap v + u v^2 - (F + k) v on the periodic square, RK4 with a
    spectral Laplacian (step 0.5, a fifth of its stability limit); ``seeds`` Gaussian seeds of random depth
    and radius (``radii``: its range, as shares of the side) grow into rings that split and fill the square.
    (``tests/test_weak_form.py`` runs it small.)"""
    rng = np.random.default_rng(seed)
    x = length * np.arange(n) / n
    xx, yy = np.meshgrid(x, x, indexing="ij")
    k = 2 * np.pi * np.fft.fftfreq(n, length / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    u, v = np.ones((n, n)), np.zeros((n, n))
    for _ in range(seeds):
        cx, cy = rng.uniform(0, length, 2)
        radius = rng.uniform(*radii) * length
        dx, dy = np.abs(xx - cx), np.abs(yy - cy)
        bump = np.exp(-(np.minimum(dx, length - dx) ** 2 + np.minimum(dy, length - dy) ** 2) / radius ** 2)
        u -= 0.5 * bump * rng.uniform(0.5, 1.0)
        v += 0.25 * bump * rng.uniform(0.5, 1.0)

    def rate(u, v):
        lap_u, lap_v = (np.real(np.fft.ifft2(-k2 * np.fft.fft2(f))) for f in (u, v))
        uvv = u * v * v
        return np.stack([du * lap_u - uvv + feed * (1 - u), dv * lap_v + uvv - (feed + kill) * v])

    h, state = 0.5, np.stack([u, v])
    every = int(round(interval / h))
    out = []
    for step in range(int(round(t_end / h)) + 1):
        if step % every == 0:
            out.append(np.moveaxis(state, 0, -1).copy())
        k1 = rate(*state); k2_ = rate(*(state + h / 2 * k1)); k3 = rate(*(state + h / 2 * k2_))
        k4 = rate(*(state + h * k3))
        state = state + h / 6 * (k1 + 2 * k2_ + 2 * k3 + k4)
    truths = [{"u_xx": du, "u_yy": du, "u*v**2": -1.0, "1": feed, "u": -feed},
              {"v_xx": dv, "v_yy": dv, "u*v**2": 1.0, "v": -(feed + kill)}]
    return interval * np.arange(len(out)), {"x": x, "y": x}, np.array(out), truths


# -- PDE runs -------------------------------------------------------------------------------------

def readable_terms(rate) -> dict:
    from symsim.discovery.refinement import readable

    terms = {}
    for term in sympy.Add.make_args(sympy.expand(rate)):
        number, monomial = term.as_coeff_Mul()
        terms[readable(monomial)] = float(number)
    return terms


def score(found: list[dict], truths: list[dict]) -> dict:
    """Per equation: exact term set?, every true coefficient's relative error (a missing term: 1)."""
    errors = {}
    for field, (terms, truth) in enumerate(zip(found, truths)):
        for name, value in truth.items():
            errors[f"{field}:{name}" if len(truths) > 1 else name] = abs(terms.get(name, 0.0) - value) / abs(value)
    merged = found[0] if len(found) == 1 else {f"{k}:{name}": c for k, terms in enumerate(found)
                                                for name, c in terms.items()}
    return {"terms": merged, "exact_terms": all(set(f) == set(t) for f, t in zip(found, truths)),
            "max_coefficient_error": max(errors.values()), "coefficient_errors": errors}


def pysindy_alone(data: Observations, method: str, thresholds, degree: int, order: int) -> dict:
    """PySINDy on its own (its PDE-FIND strong form with smoothed derivatives, or its ``WeakPDELibrary``
    with its default subdomains), STLSQ at each threshold on the one library it builds: threshold ->
    rates, one per field."""
    import pysindy as ps
    from symsim.discovery.proposals import WEAK_SUBDOMAINS, _problem, _recording_optimizer, feature_expression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.random.seed(0)
        if method == "sindy":
            library, differentiation, x, t = _problem(ps, data, method, degree, order)
        else:
            coords = list(data.coords.values())
            x, t = np.moveaxis(data.values[0], 0, -2), data.times[0]
            grid = np.stack(np.meshgrid(*coords, t, indexing="ij"), axis=-1)
            periodic = len(data.periodic) == len(coords)
            library = ps.WeakPDELibrary(function_library=ps.PolynomialLibrary(degree=degree, include_bias=False),
                                        derivative_order=order, spatiotemporal_grid=grid, include_bias=True,
                                        K=WEAK_SUBDOMAINS, diff_kwargs={"is_uniform": True, "periodic": periodic})
            differentiation = None
        recorder = _recording_optimizer(ps)
        model = ps.SINDy(optimizer=recorder, feature_library=library, differentiation_method=differentiation)
        model.fit(x, t=t, feature_names=[f"f{k}" for k in range(len(data.names))])
        theta = np.asarray(recorder.Theta_)
        target = np.asarray(recorder.target_).reshape(len(theta), -1)
        fields = tuple(template_model(data).field_functions.values())
        terms = [feature_expression(name, fields, data) for name in model.get_feature_names()]
        rates = {}
        for threshold in thresholds:
            columns = []
            for k in range(target.shape[1]):
                optimizer = ps.STLSQ(threshold=threshold)
                optimizer.fit(theta, target[:, k])
                columns.append(np.asarray(optimizer.coef_).ravel())
            rates[threshold] = [sympy.Add(*[sympy.Float(c) * term for c, term in zip(column, terms) if c != 0])
                                for column in columns]
    return rates


def pde_case(name, make, degree=2, order=4):
    t, coords, clean, truths = make()
    rng = np.random.default_rng(0)
    spread = clean.std(axis=tuple(range(clean.ndim - 1)))          # per field
    noisy = clean + NOISE_PDE * spread * rng.standard_normal(clean.shape)
    names = ("u", "v", "w")[:clean.shape[-1]]
    data = Observations(name, names, (t,), (noisy,), coords, tuple(coords))
    started = time.perf_counter()
    found = discover(data, holdout=0.25, degree=degree, derivative_order=order)
    seconds = time.perf_counter() - started
    row = {"symsim": {**score([readable_terms(r) for r in found.best.rates], truths), "seconds": seconds,
                      "forecast_error": found.best.forecast_error, "method": found.best.proposal.method}}
    for method in ("sindy", "weak-sindy"):
        started = time.perf_counter()
        fits = pysindy_alone(data, method, PYSINDY_THRESHOLDS, degree, order)
        seconds = time.perf_counter() - started
        for threshold, rates in fits.items():
            row[f"pysindy_{method}_{threshold:g}"] = {**score([readable_terms(r) for r in rates], truths),
                                                      "seconds": seconds}
    return row


# -- ODE runs (the PROSE protocol) ------------------------------------------------------------

def integrate_candidate(data: Observations, rates, start, times):
    """One trajectory of d(u)/dt = rates from ``start`` at ``times`` (NaN after a blow-up)."""
    from symsim.compiler import compile_model
    from symsim.prose.evaluation import rk4_batch

    structure, values = parametrize(rates, data.names)
    rhs = compile_model(candidate_model(data, structure, values), target="numpy", egraph=False).module.rhs
    columns = {n: np.array([v]) for n, v in values.items()}
    return rk4_batch(rhs, np.asarray(start)[None], times, columns, 8, 1e3 * np.abs(data.values[0]).max())[0]


def true_support(system) -> list[set]:
    return [{t.as_coeff_Mul()[1] for t in sympy.Add.make_args(sympy.expand(rate))} for rate in system]


def found_support(rates, dimension) -> list[set]:
    symbols = {sympy.Function(f"u_{k}")(sympy.Symbol("t")): sympy.Symbol(f"u_{k}") for k in range(dimension)}
    return true_support([r.xreplace(symbols) for r in rates])


def is_polynomial(system) -> bool:
    """Whether every rate is a polynomial of degree <= 2 (what the default library can represent)."""
    symbols = sorted(set().union(*[r.free_symbols for r in system]), key=str)
    return all(r.is_polynomial(*symbols) and sympy.Poly(r, *symbols).total_degree() <= 2 for r in system)


def ode_protocol(per_family: int, seed: int = 2026) -> dict:
    from symsim.prose.data import DataSpec, generate_samples
    from symsim.prose.families import FAMILIES

    spec = DataSpec()
    samples = generate_samples(spec, per_family * len(FAMILIES) * 3, seed=seed)
    chosen = {}
    for i in range(len(samples)):
        chosen.setdefault(samples.family_name(i), [])
        if len(chosen[samples.family_name(i)]) < per_family:
            chosen[samples.family_name(i)].append(i)
    split, times = spec.input_points, spec.times
    rows = []
    for family, indices in chosen.items():
        for i in indices:
            d = int(samples.dimension[i])
            names = tuple(f"u_{k}" for k in range(d))
            observed = samples.noisy[i, :split, :d]
            truth = samples.clean[i, split:, :d]
            data = Observations(f"{family}[{i}]", names, (times[:split],), (observed,))
            row = {"family": family}
            network = prose_network_forecast(observed, d)
            row["prose_network"] = relative_l2(network, truth)
            started = time.perf_counter()
            try:
                found = discover(data, holdout=0.25)
                best = found.best
                path = integrate_candidate(data, best.rates, best.initial[0], times)
                row["symsim"] = relative_l2(path[split:], truth)
                row["best_method"] = best.proposal.method
                system = samples.system(i)
                if is_polynomial(system):
                    row["exact"] = found_support(best.rates, d) == true_support(system)
                training, _ = data.split(0.25)
                for method in ("sindy", "weak-sindy"):
                    row[f"pysindy_{method}"] = pysindy_forecast(data, training, method, times, split, truth)
            except Exception as error:          # a benchmark row records, it does not stop the run
                row["error"] = f"{type(error).__name__}: {error}"
                row.setdefault("symsim", math.inf)
            row["seconds"] = time.perf_counter() - started
            rows.append(row)
            print(f"  {family:22s} symsim {row['symsim']:.3g} ({row.get('best_method', '-')})  "
                  f"network {row['prose_network']:.3g}  pysindy {row.get('pysindy_sindy', math.nan):.3g} / "
                  f"{row.get('pysindy_weak-sindy', math.nan):.3g}  exact {row.get('exact', '-')}  "
                  f"{row['seconds']:.1f} s", flush=True)
    return summarize_ode(rows)


def prose_network_forecast(observed, d):
    """The PROSE network's own continuation of the 64 observed points (no equations), as in the protocol."""
    import torch
    from symsim.prose.data import DataSpec, window_batch
    from symsim.prose.training import PRETRAINED, load_trained_model

    network = load_trained_model(PRETRAINED)
    with torch.no_grad():
        return network.predict_trajectory(window_batch(observed[None], DataSpec()))[0, :, :d].numpy()


def pysindy_forecast(data, training, method, times, split, truth) -> float:
    """PySINDy alone: the ladder's raw fits, the one that best predicts the held-back quarter of the input
    (integrated from the first noisy point), scored on (2, 6]."""
    best, best_error = None, math.inf
    cut = len(training.times[0])
    for proposal in sindy_proposals(training, method):
        try:
            path = integrate_candidate(data, proposal.rates, data.values[0][0], times[:split])
        except Exception:
            continue
        error = relative_l2(path[cut - 1:], data.values[0][cut - 1:])
        if error < best_error:
            best, best_error = proposal, error
    if best is None:
        return math.inf
    path = integrate_candidate(data, best.rates, data.values[0][0], times)
    return relative_l2(path[split:], truth)


def summarize_ode(rows) -> dict:
    def median(key, subset=rows):
        values = [r[key] for r in subset if key in r]
        return float(np.median(values)) if values else math.nan

    exact = [r["exact"] for r in rows if "exact" in r]
    summary = {"trajectories": len(rows), "symsim_median_forecast": median("symsim"),
               "prose_network_median_forecast": median("prose_network"),
               "best_method_counts": {m: sum(r.get("best_method") == m for r in rows)
                                      for m in sorted({r.get("best_method", "none") for r in rows})},
               "pysindy_strong_median_forecast": median("pysindy_sindy"),
               "pysindy_weak_median_forecast": median("pysindy_weak-sindy"),
               "exact_term_share_polynomial": float(np.mean(exact)) if exact else math.nan,
               "median_seconds": median("seconds"), "per_family": {}}
    for family in dict.fromkeys(r["family"] for r in rows):
        subset = [r for r in rows if r["family"] == family]
        summary["per_family"][family] = {"symsim": median("symsim", subset),
                                         "prose_network": median("prose_network", subset),
                                         "pysindy_sindy": median("pysindy_sindy", subset),
                                         "pysindy_weak": median("pysindy_weak-sindy", subset)}
    summary["rows"] = rows
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=8, help="ODE trajectories per family (default 8)")
    parser.add_argument("--skip-ode", action="store_true", help="PDE cases only")
    parser.add_argument("--skip-pde", action="store_true", help="the ODE protocol only")
    parser.add_argument("--only", help="PDE cases to run, comma-separated (default: every one)")
    parser.add_argument("--json", default="benchmarks/discover.json")
    args = parser.parse_args()
    # a partial run (--skip-ode / --skip-pde) updates its part of an existing report
    path = Path(args.json)
    report = json.loads(path.read_text()) if path.is_file() else {}
    report.update({"machine": platform.processor() or platform.machine(), "pde": report.get("pde", {})})
    cases = () if args.skip_pde else (("burgers", burgers_data, 2, 4), ("kuramoto_sivashinsky", kuramoto_sivashinsky_data, 2, 4),
                                      ("gray_scott", gray_scott_data, 3, 2))
    for name, make, degree, order in cases:
        if args.only and name not in args.only.split(","):
            continue
        print(f"{name} ...", flush=True)
        report["pde"][name] = row = pde_case(name, make, degree, order)
        for solver, result in row.items():
            print(f"  {solver:24s} exact terms {result['exact_terms']!s:5s} max coefficient error "
                  f"{result['max_coefficient_error']:.2%}  {len(result['terms'])} terms  {result['terms']}", flush=True)
    if not args.skip_ode:
        print(f"ODE protocol, {args.per_family} per family ...", flush=True)
        report["ode"] = ode = ode_protocol(args.per_family)
        print(f"median forecast relative L2 on (2, 6]: symsim {ode['symsim_median_forecast']:.3g}, PROSE network "
              f"alone {ode['prose_network_median_forecast']:.3g}, PySINDy strong "
              f"{ode['pysindy_strong_median_forecast']:.3g}, weak {ode['pysindy_weak_median_forecast']:.3g}; "
              f"exact term sets {ode['exact_term_share_polynomial']:.0%} of polynomial-family trajectories; "
              f"median {ode['median_seconds']:.1f} s per trajectory")
    path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
