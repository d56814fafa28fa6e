"""Lotka-Volterra predator-prey cycles (an ODE system)."""
from sympy import Eq
from symsim import Model, Dt

model = Model("lotka_volterra")
prey, predator = model.fields("prey predator")
alpha, beta, delta, gamma = model.params(alpha=1.1, beta=0.4, delta=0.1, gamma=0.4)
model.equations(
    Eq(Dt(prey), alpha * prey - beta * prey * predator),
    Eq(Dt(predator), delta * prey * predator - gamma * predator),
)
model.initial(prey=10.0, predator=10.0)
model.defaults(t_end=50.0, saves=500, method="dopri5", rtol=1e-8, atol=1e-10)
