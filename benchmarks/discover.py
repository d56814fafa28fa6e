"""Equation discovery: symsim's closed loop against PySINDy alone, on data symsim did not make.

    python benchmarks/discover.py [--per-family 8] [--json benchmarks/discover.json]

PDE (1 % noise, relative to the field's standard deviation; data from NumPy pseudo-spectral
solvers written here, not from symsim):

* ``burgers``: u_t = -u u_x + 0.1 u_xx on [0, 2 pi), 256 points, t in [0, 4] at 101 snapshots;
* ``kuramoto_sivashinsky``: u_t = -u u_x - u_xx - u_xxxx on [0, 32 pi), 256 points, t in [0, 50]
  at 201 snapshots (after a spin-up of 50), ETDRK4 (Kassam & Trefethen 2005).

For each: ``symsim discover`` (both forms, periodic x) -- its best term set and the relative
error of every coefficient -- beside PySINDy alone (STLSQ at its default threshold 0.1 and at
0.01, on the strong form with smoothed derivatives and on the weak form), same library (degree 2,
derivatives to 4th order).

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
    return t, x, np.array(out), {"u*u_x": -1.0, "u_xx": nu}


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
    return interval * np.arange(len(out)), x, np.array(out), {"u*u_x": -1.0, "u_xx": -1.0, "u_xxxx": -1.0}


# -- PDE runs -------------------------------------------------------------------------------------

def readable_terms(rate) -> dict:
    from symsim.discovery.refinement import readable

    terms = {}
    for term in sympy.Add.make_args(sympy.expand(rate)):
        number, monomial = term.as_coeff_Mul()
        terms[readable(monomial)] = float(number)
    return terms


def score(found_terms: dict, truth: dict) -> dict:
    exact = set(found_terms) == set(truth)
    errors = {name: abs(found_terms.get(name, 0.0) - value) / abs(value) for name, value in truth.items()}
    return {"terms": found_terms, "exact_terms": exact, "max_coefficient_error": max(errors.values()),
            "coefficient_errors": errors}


def pysindy_alone(data: Observations, method: str, threshold: float) -> dict:
    import pysindy as ps
    from symsim.discovery.proposals import _problem, feature_expression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.random.seed(0)
        library, differentiation, x, t = _problem(ps, data, method, 2, 4)
        model = ps.SINDy(optimizer=ps.STLSQ(threshold=threshold), feature_library=library,
                         differentiation_method=differentiation)
        model.fit(x, t=t, feature_names=["f0"])
    fields = tuple(template_model(data).field_functions.values())
    terms = [feature_expression(name, fields, data) for name in model.get_feature_names()]
    return sympy.Add(*[sympy.Float(c) * term for c, term in zip(model.coefficients()[0], terms) if c != 0])


def pde_case(name, make):
    t, x, clean, truth = make()
    rng = np.random.default_rng(0)
    noisy = clean + NOISE_PDE * clean.std() * rng.standard_normal(clean.shape)
    data = Observations(name, ("u",), (t,), (noisy[..., None],), {"x": x}, ("x",))
    started = time.perf_counter()
    found = discover(data, holdout=0.25)
    seconds = time.perf_counter() - started
    row = {"symsim": {**score(readable_terms(found.best.rates[0]), truth), "seconds": seconds,
                      "forecast_error": found.best.forecast_error, "method": found.best.proposal.method}}
    for method in ("sindy", "weak-sindy"):
        for threshold in PYSINDY_THRESHOLDS:
            row[f"pysindy_{method}_{threshold:g}"] = score(readable_terms(pysindy_alone(data, method, threshold)), truth)
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
    parser.add_argument("--json", default="benchmarks/discover.json")
    args = parser.parse_args()
    report = {"machine": platform.processor() or platform.machine(), "pde": {}}
    cases = () if args.skip_pde else (("burgers", burgers_data), ("kuramoto_sivashinsky", kuramoto_sivashinsky_data))
    for name, make in cases:
        print(f"{name} ...", flush=True)
        report["pde"][name] = row = pde_case(name, make)
        for solver, result in row.items():
            print(f"  {solver:20s} exact terms {result['exact_terms']!s:5s} max coefficient error "
                  f"{result['max_coefficient_error']:.2%}  {result['terms']}")
    if not args.skip_ode:
        print(f"ODE protocol, {args.per_family} per family ...", flush=True)
        report["ode"] = ode = ode_protocol(args.per_family)
        print(f"median forecast relative L2 on (2, 6]: symsim {ode['symsim_median_forecast']:.3g}, PROSE network "
              f"alone {ode['prose_network_median_forecast']:.3g}, PySINDy strong "
              f"{ode['pysindy_strong_median_forecast']:.3g}, weak {ode['pysindy_weak_median_forecast']:.3g}; "
              f"exact term sets {ode['exact_term_share_polynomial']:.0%} of polynomial-family trajectories; "
              f"median {ode['median_seconds']:.1f} s per trajectory")
    Path(args.json).write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
