"""The ODE families of PROSE (Liu, Zhang, Schaeffer 2023) as SymPy right-hand sides and symsim models.

    >>> lorenz = FAMILIES["lorenz"]
    >>> lorenz.rhs(lorenz.nominal)[0]
    -10.0*u_0 + 10.0*u_1
    >>> lorenz.rhs(lorenz.parameter_symbols)            # the skeleton
    [sigma*(-u_0 + u_1), u_0*(rho - u_2) - u_1, -beta*u_2 + u_0*u_1]
    >>> model = lorenz.model()
    >>> model.name, list(model.field_functions), list(model.parameters)
    ('prose_lorenz', ['u_0', 'u_1', 'u_2'], ['sigma', 'rho', 'beta'])

The model runs in symsim's compiled ensemble solver (Numba), e.g.
``solve_ensemble(lorenz.model(), y0, times, params=perturbed, bound=1e3)``.

Every family is a system u' = f(u; p) in the state symbols ``u_0 .. u_{d-1}``
(plain ``sympy.Symbol``), with named parameters ``p`` and a chaotic nominal
value for each. ``Family.rhs`` takes numbers (a concrete system, what a model
must predict) or symbols (the skeleton, what the model is told).

Right-hand sides use only + - * /, the integer powers 2 and 3 (and -1, -2),
sqrt, sin, cos, exp and log: the vocabulary of :mod:`symsim.prose.tokens`.

Bounded fractions measured with the PROSE sampling protocol (parameters uniform
within +-10 % of nominal, initial values uniform in [-2, 2]^d, t in [0, 6] at 192
points, ``solve_ensemble`` dopri5, ``bound=1e3``), 4096 trajectories per family,
seed 0; and the largest Lyapunov exponent at the nominal values (two-trajectory
estimate over 300-1000 time units from a few starts; rough, to show which are chaotic):

    ====================  =======  =========  ====================================
    family                bounded  lyapunov   note
    ====================  =======  =========  ====================================
    lorenz                1.000    0.90
    thomas                1.000    0.013      slow; b=0.17 (PROSE) is periodic
    aizawa                1.000    0.10       some starts settle on a stable state
    chen_lee              1.000    0.15
    dadras                1.000    0.44
    rossler               1.000    0.07
    halvorsen             0.999    0.67       6 of 4096 fail to step (blow-up)
    rabinovich_fabrikant  0.516    0.2        cubic terms: half the box escapes
    sprott_b              1.000    0.21
    sprott_linz_f         0.522    0.14       small basin: half the box escapes
    four_wing             1.000    0.06
    duffing               1.000    0.06       (in the x, v directions)
    lorenz96_4d           1.000    0.00       travelling wave at F=8
    lorenz96_5d           1.000    0.53
    double_pendulum       1.000    ~0.01      conservative; chaos grows with energy
    ====================  =======  =========  ====================================

The two families where half the starts escape keep their published form: the
escapes come from the starting box, not the parameters (the fraction stays at
0.49-0.58 over alpha in [0.05, 1.1] and a in [0.3, 0.6]), so a data generator
draws about twice as many starts for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy
from sympy import cos, sin

from ..errors import ParameterError
from ..model import Dt, Model

#: the PROSE window: trajectories on t in [0, 6] saved at 192 points
T_END = 6.0
SAVES = 192


def state_symbols(dimension: int) -> tuple[sympy.Symbol, ...]:
    """``(u_0, ..., u_{dimension-1})``: the state variables every family is written in."""
    return tuple(sympy.Symbol(f"u_{i}") for i in range(dimension))


@dataclass(frozen=True)
class Family:
    """One ODE family: ``rhs(params)`` is the list of d(u_i)/dt for a parameter assignment."""

    name: str
    dimension: int
    nominal: dict                       # parameter name -> chaotic nominal value, in model order
    equations: Callable                 # (params dict, state symbols) -> list of right-hand sides
    _models: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __hash__(self):
        # the generated hash would hash ``nominal``, a dict; names are unique in FAMILIES
        return hash(self.name)

    @property
    def state(self) -> tuple[sympy.Symbol, ...]:
        return state_symbols(self.dimension)

    @property
    def parameter_symbols(self) -> dict[str, sympy.Symbol]:
        """``{name: Symbol(name)}``: ``rhs(parameter_symbols)`` is the family's skeleton."""
        return {name: sympy.Symbol(name) for name in self.nominal}

    def rhs(self, params: Mapping | None = None) -> list[sympy.Expr]:
        """d(u_i)/dt for ``params`` (name -> number or SymPy expression; default: nominal)."""
        params = self.nominal if params is None else params
        missing = [name for name in self.nominal if name not in params]
        unknown = sorted(set(params) - set(self.nominal))
        if missing or unknown:
            raise ParameterError(
                f"family {self.name!r} takes parameters {list(self.nominal)}; "
                + (f"missing {missing}" if missing else f"unknown {unknown}"))
        values = {name: sympy.sympify(params[name]) for name in self.nominal}
        return [sympy.sympify(expr) for expr in self.equations(values, self.state)]

    def model(self) -> Model:
        """The family as a symsim ODE model ``prose_<name>`` (built once; fields u_0.., parameters as nominal)."""
        if "model" not in self._models:
            self._models["model"] = system_model(f"prose_{self.name}", self.rhs(self.parameter_symbols), self.nominal)
        return self._models["model"]


def system_model(name: str, rhs: list, params: Mapping | None = None) -> Model:
    """A symsim ODE model for d(u_i)/dt = rhs[i], with fields u_0.. and parameters ``params`` (name -> default).

        >>> (u_0,), k = state_symbols(1), sympy.Symbol("k")
        >>> model = system_model("decoded", [-0.5 * u_0 + k], {"k": 1.0})
        >>> model.equation_list[0].describe(), model.parameters
        ('Dt(u_0) = k - 0.5*u_0(t)', {'k': (k, 1.0)})

    ``rhs`` may use the state symbols of :func:`state_symbols` and ``Symbol(name)``
    for every name in ``params``; lowering reports any other symbol by name.
    """
    params = dict(params or {})
    state = state_symbols(len(rhs))
    model = Model(name)
    fields = model.fields(" ".join(s.name for s in state))
    fields = fields if isinstance(fields, tuple) else (fields,)
    if params:
        model.params(**params)
    on_fields = dict(zip(state, fields))
    model.equations(*[sympy.Eq(Dt(u), sympy.sympify(expr).xreplace(on_fields)) for u, expr in zip(fields, rhs)])
    # lowering requires initial values; ensembles pass their own y0, so any point will do
    model.initial(**{s.name: 1.0 for s in state})
    model.defaults(t_end=T_END, saves=SAVES)
    return model


# -- the families -------------------------------------------------------------------
# Each builder gets the parameter values by name and the state symbols, and writes the
# system in its published form; the docstring names the source of form and values.

def _lorenz(p, u):
    """Lorenz (1963), the classical butterfly: sigma=10, rho=28, beta=8/3."""
    x, y, z = u
    return [p["sigma"] * (y - x), x * (p["rho"] - z) - y, x * y - p["beta"] * z]


def _thomas(p, u):
    """Thomas (1999) cyclically symmetric attractor; b=0.208186 (Wikipedia's chaotic value;
    PROSE uses b=0.17, also chaotic)."""
    x, y, z = u
    return [sin(y) - p["b"] * x, sin(z) - p["b"] * y, sin(x) - p["b"] * z]


def _aizawa(p, u):
    """Aizawa attractor in Langford's form as on Wikipedia/dynamicmath: a=0.95, b=0.7, c=0.6,
    d=3.5, e=0.25, f=0.1."""
    x, y, z = u
    return [(z - p["b"]) * x - p["d"] * y,
            p["d"] * x + (z - p["b"]) * y,
            p["c"] + p["a"] * z - z**3 / 3 - (x**2 + y**2) * (1 + p["e"] * z) + p["f"] * z * x**3]


def _chen_lee(p, u):
    """Chen & Lee (2004), Chaos Solitons Fractals 21:957: a=5, b=-10, c=-0.38."""
    x, y, z = u
    return [p["a"] * x - y * z, p["b"] * y + x * z, p["c"] * z + x * y / 3]


def _dadras(p, u):
    """Dadras & Momeni (2009), Phys. Lett. A 373:3637: a=3, b=2.7, c=1.7, d=2, e=9.
    (PROSE integrates a rescaled variant with 0.5 coefficients; this is the published form.)"""
    x, y, z = u
    return [y - p["a"] * x + p["b"] * y * z, p["c"] * y - x * z + z, p["d"] * x * y - p["e"] * z]


def _rossler(p, u):
    """Rössler (1976): a=0.2, b=0.2, c=5.7 (PROSE uses a=b=0.1, c=14, also chaotic)."""
    x, y, z = u
    return [-y - z, x + p["a"] * y, p["b"] + z * (x - p["c"])]


def _halvorsen(p, u):
    """Halvorsen's cyclic attractor as in Sprott, Elegant Chaos (2010): a=1.4.
    (PROSE's form is this one divided by 4.)"""
    x, y, z = u
    a = p["a"]
    return [-a * x - 4 * y - 4 * z - y**2, -a * y - 4 * z - 4 * x - z**2, -a * z - 4 * x - 4 * y - x**2]


def _rabinovich_fabrikant(p, u):
    """Rabinovich & Fabrikant (1979), Wikipedia form and its chaotic case alpha=1.1, gamma=0.87
    (largest Lyapunov exponent ~0.2). PROSE's alpha=0.98, gamma=0.1 and Wikipedia's other case
    alpha=0.14 settle on cycles (exponent ~0). About half of the [-2, 2]^3 starts escape whatever
    the values: the cubic terms blow up for large |u_0|."""
    x, y, z = u
    return [y * (z - 1 + x**2) + p["gamma"] * x,
            x * (3 * z + 1 - x**2) + p["gamma"] * y,
            -2 * z * (p["alpha"] + x * y)]


def _sprott_b(p, u):
    """Sprott (1994) case B, Phys. Rev. E 50:R647: a=b=c=1 (largest exponent ~0.21). The
    coefficients of dysts and PROSE, a=0.4, b=1.2, c=1, give a cycle (exponent ~0)."""
    x, y, z = u
    return [p["a"] * y * z, x - p["b"] * y, p["c"] - x * y]


def _sprott_linz_f(p, u):
    """Sprott (1994) case F, also in Sprott & Linz (2000): a=0.5."""
    x, y, z = u
    return [y + z, -x + p["a"] * y, x**2 - z]


def _four_wing(p, u):
    """Four-wing attractor as in dysts (Gilpin 2021) and PROSE: a=0.2, b=0.01, c=-0.4."""
    x, y, z = u
    return [p["a"] * x + y * z, p["b"] * x + p["c"] * y - x * z, -z - x * y]


def _duffing(p, u):
    """Forced Duffing oscillator x'' + delta x' + alpha x + beta x^3 = gamma cos(omega t), made
    autonomous with the forcing phase u_2 (u_2' = omega). Ueda-type chaotic values of Wikipedia's
    Duffing article and PROSE: delta=0.02, alpha=1, beta=5, gamma=8, omega=0.5."""
    x, v, phase = u
    return [v,
            -p["delta"] * v - p["alpha"] * x - p["beta"] * x**3 + p["gamma"] * cos(phase),
            p["omega"]]


def _lorenz96(p, u):
    """Lorenz (1996): dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, cyclic; F=8, the standard
    forcing. With 5 variables that is chaotic (exponent ~0.5); with 4 the flow settles on a
    travelling wave (exponent ~0), which PROSE keeps as a family all the same."""
    d = len(u)
    return [(u[(i + 1) % d] - u[(i - 2) % d]) * u[(i - 1) % d] - u[i] + p["F"] for i in range(d)]


def _double_pendulum(p, u):
    """Planar double pendulum of two equal point masses on equal massless rods (the standard
    Lagrangian equations, e.g. myPhysicsLab, with m1 = m2, L1 = L2 = l), as in PROSE: g=9.81, l=1.
    State: angles u_0, u_1 from the vertical, angular velocities u_2, u_3."""
    theta1, theta2, omega1, omega2 = u
    g, l = p["g"], p["l"]
    delta = theta1 - theta2
    denominator = 3 - cos(2 * delta)
    return [omega1,
            omega2,
            (-3 * g / l * sin(theta1) - g / l * sin(theta1 - 2 * theta2)
             - 2 * sin(delta) * (omega2**2 + omega1**2 * cos(delta))) / denominator,
            2 * sin(delta) * (2 * omega1**2 + 2 * g / l * cos(theta1) + omega2**2 * cos(delta)) / denominator]


FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("lorenz", 3, {"sigma": 10.0, "rho": 28.0, "beta": 8 / 3}, _lorenz),
    Family("thomas", 3, {"b": 0.208186}, _thomas),
    Family("aizawa", 3, {"a": 0.95, "b": 0.7, "c": 0.6, "d": 3.5, "e": 0.25, "f": 0.1}, _aizawa),
    Family("chen_lee", 3, {"a": 5.0, "b": -10.0, "c": -0.38}, _chen_lee),
    Family("dadras", 3, {"a": 3.0, "b": 2.7, "c": 1.7, "d": 2.0, "e": 9.0}, _dadras),
    Family("rossler", 3, {"a": 0.2, "b": 0.2, "c": 5.7}, _rossler),
    Family("halvorsen", 3, {"a": 1.4}, _halvorsen),
    Family("rabinovich_fabrikant", 3, {"alpha": 1.1, "gamma": 0.87}, _rabinovich_fabrikant),
    Family("sprott_b", 3, {"a": 1.0, "b": 1.0, "c": 1.0}, _sprott_b),
    Family("sprott_linz_f", 3, {"a": 0.5}, _sprott_linz_f),
    Family("four_wing", 3, {"a": 0.2, "b": 0.01, "c": -0.4}, _four_wing),
    Family("duffing", 3, {"alpha": 1.0, "beta": 5.0, "gamma": 8.0, "delta": 0.02, "omega": 0.5}, _duffing),
    Family("lorenz96_4d", 4, {"F": 8.0}, _lorenz96),
    Family("lorenz96_5d", 5, {"F": 8.0}, _lorenz96),
    Family("double_pendulum", 4, {"g": 9.81, "l": 1.0}, _double_pendulum),
)}


def family_names() -> list[str]:
    """Names of all families in their fixed order (the order of ``FAMILIES``)."""
    return list(FAMILIES)
