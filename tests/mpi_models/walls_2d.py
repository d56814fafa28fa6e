"""Decomposition test model for the exchange that overlaps the update: the walls of mixed_2d (a time-
and coordinate-dependent Dirichlet value, Neumann fluxes) without its mixed derivative, so that no
stencil reads a halo corner and the passes of a block run their deep points during the exchange."""
from sympy import Derivative, Eq, cos, exp, sin
from symsim import Dt, Grid, Model, laplace

grid = Grid(x=(0.0, 1.0, 31), y=(-0.5, 0.7, 29))
model = Model("walls_2d", grid)
u, v = model.fields("u v")
D, c = model.params(D=0.05, c=0.3)
x, y = grid.coords
from symsim.model import t
model.equations(Eq(Dt(u), D * laplace(u) - c * Derivative(u, x) + u * v),
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
