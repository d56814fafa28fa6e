"""2-D Brusselator (the SciML stiff benchmark): periodic, a forcing switched on inside a disc at t = 1.1.

Stiff: diffusion alpha/dx^2 = 9610 limits RK4 to steps of about 3e-5 (400,000 steps to t = 11.5);
an implicit method takes steps set by accuracy instead:

    symsim run brusselator_2d --method imex-ark --target numba
"""
from sympy import And, Eq, Piecewise
from symsim import Model, Grid, Dt, laplace, t


def brusselator(n: int) -> Model:
    """The benchmark on an n x n grid: n periodic points 0, dx, ..., 1 with dx = 1/(n-1)."""
    extent = n / (n - 1)
    grid = Grid(x=(0.0, extent, n), y=(0.0, extent, n), periodic=True)
    model = Model("brusselator_2d", grid)
    u, v = model.fields("u v")
    A, B, alpha = model.params(A=3.4, B=1.0, alpha=10.0)
    x, y = grid.coords
    forcing = Piecewise((5.0, And((x - 0.3)**2 + (y - 0.6)**2 <= 0.1**2, t >= 1.1)), (0.0, True))
    model.equations(
        Eq(Dt(u), alpha * laplace(u) + B + u**2 * v - (A + 1) * u + forcing),
        Eq(Dt(v), alpha * laplace(v) + A * u - u**2 * v),
    )
    model.initial(u=22 * (y * (1 - y))**1.5, v=27 * (x * (1 - x))**1.5)
    model.defaults(t_end=11.5, saves=23)
    return model


model = brusselator(32)
