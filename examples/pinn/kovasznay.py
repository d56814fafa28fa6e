"""Kovasznay flow (Kovasznay 1948): steady incompressible Navier–Stokes at Re = 20, exact solution known.

    symsim pinn examples/pinn/kovasznay.py -o kovasznay_pinn

Behind a grid of cylinders the flow is u = 1 - exp(lambda x) cos(2 pi y),
v = lambda / (2 pi) exp(lambda x) sin(2 pi y), p = (1 - exp(2 lambda x)) / 2 with
lambda = Re/2 - sqrt(Re^2/4 + 4 pi^2). The network sees no data: the velocity takes its
exact values on the whole boundary (held exactly, u = g + phi * N) and the pressure its
value at one point (a pin); the momentum and continuity residuals do the rest.
"""

from sympy import Eq, exp, cos, sin, pi, sqrt

from symsim import Model, Rectangle, laplace

model = Model("kovasznay", geometry=Rectangle(x=(-0.5, 1.0), y=(-0.5, 1.5)))
u, v, p = model.fields("u v p")
nu = model.params(nu=0.05)                 # Re = 1 / nu = 20
x, y = model.coords

model.equations(
    Eq(u * u.diff(x) + v * u.diff(y), -p.diff(x) + nu * laplace(u)),
    Eq(u * v.diff(x) + v * v.diff(y), -p.diff(y) + nu * laplace(v)),
    Eq(u.diff(x) + v.diff(y), 0),
)

lam = 1 / (2 * nu) - sqrt(1 / (4 * nu**2) + 4 * pi**2)
exact_u = 1 - exp(lam * x) * cos(2 * pi * y)
exact_v = lam / (2 * pi) * exp(lam * x) * sin(2 * pi * y)
exact_p = (1 - exp(2 * lam * x)) / 2

everywhere = "bottom right top left"
model.dirichlet(u, exact_u, on=everywhere)
model.dirichlet(v, exact_v, on=everywhere)
model.pin(p, exact_p.subs(x, 0.25), x=0.25, y=0.5)   # inside: a corner is where a pressure is least settled
model.exact(u=exact_u, v=exact_v, p=exact_p)
