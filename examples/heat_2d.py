"""Heat equation on the unit square: a hot spot cools through walls held at zero."""
from sympy import Eq, exp
from symsim import Model, Grid, Dt, laplace

grid = Grid(x=(0.0, 1.0, 129), y=(0.0, 1.0, 129))
model = Model("heat_2d", grid)
u = model.fields("u")
D = model.params(D=0.1)
x, y = grid.coords
model.equations(Eq(Dt(u), D * laplace(u)))
model.initial(u=exp(-100 * ((x - 0.35)**2 + (y - 0.6)**2)))
for wall in (0.0, 1.0):
    model.dirichlet(u, x=wall, value=0)
    model.dirichlet(u, y=wall, value=0)
model.defaults(t_end=0.1, saves=20)
