"""PROSE-style learning: one transformer reads a short trajectory (and optionally a guessed
equation skeleton) and predicts both the continuation of the trajectory and the governing
equations (Liu, Zhang, Schaeffer, "PROSE: Predicting Operators and Symbolic Expressions
using Multimodal Transformers").

One module per concern:

- :mod:`~symsim.prose.tokens`: SymPy systems <-> prefix-notation token streams
- :mod:`~symsim.prose.families`: the ODE families as symsim models, and the SINDy baseline
- :mod:`~symsim.prose.data`: samples from symsim's compiled ensemble solver (online and on disk)
- :mod:`~symsim.prose.model`: the multimodal transformer and its named configs
- :mod:`~symsim.prose.training`: the training loop (AdamW, checkpoints, torchrun)
"""
