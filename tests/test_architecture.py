"""The package's shape: imports run one way through the pipeline, and the light entry points stay light.

    errors, grid, ... -> model, ir, op_count -> rewrite_rules -> simplify -> codegen -> compiler -> solve -> cli

The import graph is read from the installed package's source (every ``import`` statement,
inside functions too: a lazy import is still a dependency) and must be acyclic with no
arrow against that order.
"""

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

#: the pipeline, first to last: a module may import its own layer (without a cycle) and earlier ones
LAYERS = [
    ("foundation", {"symsim", "symsim.errors", "symsim.grid", "symsim.io", "symsim.tableaus", "symsim.printing",
                    "symsim.expression_parser", "symsim.plotting", "symsim.animation", "symsim.collective"}),
    ("model and IR", {"symsim.model", "symsim.geometry", "symsim.loader", "symsim.ir", "symsim.op_count", "symsim.lowering",
                      "symsim.vectorize", "symsim.jacobian", "symsim.decomposition"}),
    ("rewrite_rules", {"symsim.rewrite_rules"}),
    ("simplify", {"symsim.simplify", "symsim.continuous"}),
    ("codegen", {"symsim.codegen"}),
    ("compiler", {"symsim.compiler", "symsim.kernel_cache", "symsim.losses", "symsim.report", "symsim.stability"}),
    ("solve", {"symsim.solve", "symsim.integrators", "symsim.system", "symsim.linear_solve", "symsim.implicit", "symsim.result",
               "symsim.ensemble", "symsim.pinn", "symsim.distributed", "symsim.sweeps", "symsim.store",
               "symsim.fno", "symsim.operator_training", "symsim.prose"}),
    ("discovery", {"symsim.discovery"}),
    ("cli", {"symsim.cli", "symsim.prose.commands"}),
]


def layer_of(module: str) -> int:
    """The layer of a module: the longest listed name that is the module or a package above it."""
    best, rank = "", None
    for number, (_, names) in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, rank = name, number
    if rank is None:
        raise AssertionError(f"module {module} is in no layer of tests/test_architecture.py: place it")
    return rank


def package_modules() -> dict:
    """Module name -> source file of every module of the installed symsim package."""
    modules = {}
    roots = {"symsim": Path(importlib.util.find_spec("symsim").origin).parent}
    for stage in ("codegen", "rewrite_rules"):
        roots[f"symsim.{stage}"] = Path(importlib.util.find_spec(f"symsim.{stage}").submodule_search_locations[0])
    for package, root in roots.items():
        for path in root.rglob("*.py"):
            relative = path.relative_to(root).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            if package == "symsim" and parts and parts[0] in ("codegen", "rewrite_rules", "examples"):
                continue
            modules[".".join([package, *parts])] = path
    return modules


def import_graph() -> nx.DiGraph:
    modules = package_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph.add_edge(module, target)
    return graph


def test_every_module_has_a_layer():
    for module in package_modules():
        layer_of(module)


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_no_import_runs_against_the_pipeline():
    against = [(a, b, LAYERS[layer_of(a)][0], LAYERS[layer_of(b)][0])
               for a, b in import_graph().edges if layer_of(b) > layer_of(a)]
    assert not against, "imports against the pipeline order (module -> import, its layer -> theirs): " + \
        "; ".join(f"{a} -> {b} ({la} -> {lb})" for a, b, la, lb in against)


@pytest.mark.parametrize("statement", ["import symsim", "import symsim.ir", "import symsim.model",
                                       "import symsim.cli; symsim.cli.build_parser().format_help()"])
def test_light_entry_points_import_neither_egglog_numba_nor_torch(statement):
    check = f"import sys; {statement}; print(sorted(m for m in ('egglog', 'numba', 'torch') if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]", (statement, run.stdout)


def test_symsim_help_exits_cleanly():
    run = subprocess.run([sys.executable, "-m", "symsim.cli", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "COMMAND" in run.stdout and not run.stderr
