"""Viscous Burgers equation: a sine steepens into a shock at x=0 (walls, Dirichlet)."""
from sympy import Eq, sin, pi
from symsim import Model, Grid, Dt

grid = Grid(x=(-1.0, 1.0, 513))            # walls: both end points are grid points
model = Model("burgers", grid)
u = model.fields("u")                      # one name -> one field (like sympy.symbols)
nu = model.params(nu=0.01 / pi)
(x,) = grid.coords
model.equations(Eq(Dt(u), -u * u.diff(x) + nu * u.diff(x, 2)))
model.initial(u=-sin(pi * x))
model.dirichlet(u, x=-1.0, value=0)
model.dirichlet(u, x=1.0, value=0)
model.defaults(t_end=1.0, saves=20)
