"""Model-script sources shared by the script-level tests (written to tmp_path, then loaded)."""

#: an exponential decay ODE: the smallest complete script
DECAY = """
from sympy import Eq
from symsim import Model, Dt

model = Model("decay")
u = model.fields("u")
k = model.params(k=1.0)
model.equations(Eq(Dt(u), -k * u))
model.initial(u=1.0)
"""
