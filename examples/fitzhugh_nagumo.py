"""FitzHugh-Nagumo excitable medium: a spiral wave from a broken front (periodic 2-D)."""
from sympy import Eq, Piecewise, And
from symsim import Model, Grid, Dt, laplace

grid = Grid(x=(0.0, 100.0, 128), y=(0.0, 100.0, 128), periodic=True)
model = Model("fitzhugh_nagumo", grid)
u, v = model.fields("u v")                 # u: membrane potential, v: recovery
D, a, b, eps = model.params(D=1.0, a=0.1, b=0.5, eps=0.01)
x, y = grid.coords
model.equations(
    Eq(Dt(u), D * laplace(u) + u * (1 - u) * (u - a) - v),
    Eq(Dt(v), eps * (b * u - v)),
)
# an excited half-stripe next to a refractory one breaks into a spiral
model.initial(
    u=Piecewise((1.0, And(x < 10, y < 50)), (0.0, True)),
    v=Piecewise((0.3, And(x >= 10, x < 20, y < 50)), (0.0, True)),
)
model.defaults(t_end=400.0, saves=20)
