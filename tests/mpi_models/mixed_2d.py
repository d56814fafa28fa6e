"""Decomposition test model: walls of both kinds (a time- and coordinate-dependent Dirichlet value, a
Neumann flux), a mixed derivative that reads the corners of the halo, advection and a reaction."""
from sympy import Derivative, Eq, cos, exp, sin
from symsim import Dt, Grid, Model, laplace
from symsim.model import t


def walled_model(name: str, mixed: float) -> Model:
    """The model, with ``mixed`` times u_xy in u's equation (walls_2d.py: none)."""
    grid = Grid(x=(0.0, 1.0, 31), y=(-0.5, 0.7, 29))
    model = Model(name, grid)
    u, v = model.fields("u v")
    D, c = model.params(D=0.05, c=0.3)
    x, y = grid.coords
    model.equations(Eq(Dt(u), D * laplace(u) + mixed * Derivative(u, x, y) - c * Derivative(u, x) + u * v),
                    Eq(Dt(v), D * laplace(v) - u * v + 0.1 * Derivative(v, y)))
    model.initial(u=exp(-20 * ((x - 0.4)**2 + (y - 0.1)**2)), v=1 + 0.3 * sin(3 * x) * cos(2 * y))
    model.dirichlet(u, x=0.0, value=0.1 * sin(5 * t) * (1 + y))
    model.neumann(u, x=1.0, value=0.2)
    model.dirichlet(u, y=-0.5, value=0)
    model.neumann(u, y=0.7, value=0)
    model.neumann(v, x=0.0, value=0)
    model.dirichlet(v, x=1.0, value=1 + 0.1 * y)
    model.neumann(v, y=-0.5, value=-0.1)
    model.dirichlet(v, y=0.7, value=1)
    model.defaults(t_end=0.05)
    return model


model = walled_model("mixed_2d", 0.02)
