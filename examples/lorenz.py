"""The Lorenz system: the butterfly attractor (an ODE system, no grid)."""
from sympy import Eq
from symsim import Model, Dt

model = Model("lorenz")                    # no grid: an ODE system
X, Y, Z = model.fields("x y z")
sigma, rho, beta = model.params(sigma=10.0, rho=28.0, beta=8 / 3)
model.equations(
    Eq(Dt(X), sigma * (Y - X)),
    Eq(Dt(Y), X * (rho - Z) - Y),
    Eq(Dt(Z), X * Y - beta * Z),
)
model.initial(x=1.0, y=1.0, z=1.0)
model.defaults(t_end=40.0, saves=4000, dt=0.005)
