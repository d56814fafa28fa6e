"""Gray-Scott reaction-diffusion: spots and stripes grow from a central bump (periodic 2-D)."""
from sympy import Eq, exp
from symsim import Model, Grid, Dt, laplace

grid = Grid(x=(0.0, 1.0, 256), y=(0.0, 1.0, 256), periodic=True)
model = Model("gray_scott", grid)
u, v = model.fields("u v")                 # SymPy applied functions u(t, x, y), v(t, x, y)
Du, Dv, F, k = model.params(Du=2e-5, Dv=1e-5, F=0.04, k=0.06)
x, y = grid.coords                         # SymPy symbols
bump = exp(-400 * ((x - 0.5)**2 + (y - 0.5)**2))
model.equations(
    Eq(Dt(u), Du * laplace(u) - u * v**2 + F * (1 - u)),
    Eq(Dt(v), Dv * laplace(v) + u * v**2 - (F + k) * v),
)
model.initial(u=1 - bump / 2, v=bump / 4)
model.defaults(t_end=2000.0, saves=20)
