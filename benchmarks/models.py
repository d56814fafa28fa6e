"""The benchmark problems: heat 2D and Gray-Scott on periodic n x n grids (shared by the benchmarks)."""

from __future__ import annotations

from sympy import Eq, exp

from symsim import Dt, Grid, Model, laplace


def heat_model(n: int) -> Model:
    grid = Grid(x=(0.0, 1.0, n), y=(0.0, 1.0, n), periodic=True)
    model = Model("heat_2d", grid)
    u = model.fields("u")
    D = model.params(D=1.0)
    x, y = grid.coords
    model.equations(Eq(Dt(u), D * laplace(u)))
    model.initial(u=exp(-100 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)))
    return model


def gray_scott_model(n: int) -> Model:
    grid = Grid(x=(0.0, 1.0, n), y=(0.0, 1.0, n), periodic=True)
    model = Model("gray_scott", grid)
    u, v = model.fields("u v")
    Du, Dv, F, k = model.params(Du=2e-5, Dv=1e-5, F=0.04, k=0.06)
    x, y = grid.coords
    bump = exp(-400 * ((x - 0.5) ** 2 + (y - 0.5) ** 2))
    model.equations(Eq(Dt(u), Du * laplace(u) - u * v ** 2 + F * (1 - u)),
                    Eq(Dt(v), Dv * laplace(v) + u * v ** 2 - (F + k) * v))
    model.initial(u=1 - bump / 2, v=bump / 4)
    return model
