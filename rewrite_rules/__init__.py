"""E-graph rewrite rule sets (egglog) that simplify the lowered IR before code generation.

This stage sits between ``symsim.lowering`` and ``codegen``; its rule files and
schedule arrive with the e-graph issue. Until then kernels are rendered from the
lowered IR after SymPy's common-subexpression elimination (``codegen.kernel_plan``).
"""
