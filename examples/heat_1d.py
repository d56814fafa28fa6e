"""Heat equation on [0, 1] between cold walls: one sine mode decays, u = sin(pi x) exp(-D pi^2 t)."""
from sympy import Eq, pi, sin
from symsim import Model, Grid, Dt

grid = Grid(x=(0.0, 1.0, 101))
model = Model("heat_1d", grid)
u = model.fields("u")
D = model.params(D=0.1)
(x,) = grid.coords
model.equations(Eq(Dt(u), D * u.diff(x, 2)))
model.initial(u=sin(pi * x))
model.dirichlet(u, x=0.0, value=0)
model.dirichlet(u, x=1.0, value=0)
model.defaults(t_end=1.0, saves=20, space_order=4)
