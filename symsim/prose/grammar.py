"""Grammar-constrained decoding: which tokens may come next so that a stream reads as a system.

    >>> from symsim.prose.tokens import VOCAB
    >>> grammar = SymbolGrammar(VOCAB)
    >>> state = grammar.start(dimension=torch.tensor([1, 3]), max_len=200)   # two streams: 1-D, 3-D
    >>> allowed = state.allowed()                                     # (2, len(VOCAB)) booleans
    >>> [[bool(allowed[row, i]) for i in VOCAB.ids(["u_0", "u_2", "|"])] for row in range(2)]
    [[True, False, False], [True, True, False]]
    >>> state.advance(torch.tensor(VOCAB.ids(["u_0", "u_0"])))        # the ids just written
    >>> [VOCAB.tokens(row.nonzero().flatten().tolist()) for row in state.allowed()]
    [['<eos>'], ['|']]

A decoder masks its next-token scores with it: ``scores.masked_fill_(~state.allowed(), -math.inf)``.

A transformer's most likely token is sometimes one the token language forbids: a float's
sign followed by an operator instead of a mantissa, an equation ended while an operator still
lacks its operand, a variable u_3 in a 3-equation system, a fourth equation for 3-D data. The
stream then decodes to nothing although every other token was right. Masking the forbidden
tokens at each step (the decoder picks the most likely *allowed* token) removes that failure
mode; the network's probabilities among allowed tokens are untouched.

The state of each stream is four counters, so the mask is a few tensor operations per step
for the whole batch (or all beams):

- ``missing``: operands the current equation still needs (1 at its start; a binary operator
  adds one, a leaf or a float's sign takes one; 0 means the equation is complete);
- ``phase``: 0 outside a float, 1 after its sign (a mantissa must follow), 2 after its
  mantissa (an exponent must follow);
- ``finished``: equations ended by a separator so far;
- ``written``: tokens written so far.

Rules: inside a float only its next part; with operands missing, any operator, integer, sign
or variable u_k with k < dimension; with none missing, the separator while fewer than
``dimension`` equations are written and ``<eos>`` once the last one is complete. A token is
also refused when the shortest completion after it (the float's rest, one token per missing
operand, a separator and one token per equation still to come, ``<eos>``) would not fit in
``max_len``, so a stream never runs out of room half-written. ``<pad>``, ``<bos>`` and the
skeleton placeholder are never allowed: the decoder writes systems with values.

What the grammar does not check: nesting depth and values (``log`` of a negative constant,
division by zero). Streams with those still decode to an :class:`~.tokens.InvalidSystem`,
so the valid fraction measured after constrained decoding stays an honest count.
"""

from __future__ import annotations

import torch

from .tokens import (BINARY_OPERATORS, EOS, EXPONENT_TOKENS, INTEGER_TOKENS, MANTISSA_TOKENS, SEPARATOR,
                     SIGN_TOKENS, UNARY_OPERATORS, VARIABLE_TOKENS, Vocabulary)

# token roles, one small integer per vocabulary entry
NEVER, BINARY, UNARY, LEAF, SIGN, MANTISSA, EXPONENT, SEPARATES, ENDS = range(9)


class SymbolGrammar:
    """The roles of a vocabulary's tokens; :meth:`start` gives the state of a batch of streams."""

    def __init__(self, vocabulary: Vocabulary):
        roles = [NEVER] * len(vocabulary)
        variable = [-1] * len(vocabulary)
        groups = ((BINARY, BINARY_OPERATORS), (UNARY, UNARY_OPERATORS), (LEAF, INTEGER_TOKENS + VARIABLE_TOKENS),
                  (SIGN, SIGN_TOKENS), (MANTISSA, MANTISSA_TOKENS), (EXPONENT, EXPONENT_TOKENS),
                  (SEPARATES, (SEPARATOR,)), (ENDS, (EOS,)))
        for role, tokens in groups:
            for i in vocabulary.ids(tokens):
                roles[i] = role
        for k, i in enumerate(vocabulary.ids(VARIABLE_TOKENS)):
            variable[i] = k
        self.roles = torch.tensor(roles)
        self.variable_index = torch.tensor(variable)    # k for u_k, -1 for every other token
        # operands still missing after the token, minus before it (outside a float)
        change = torch.zeros(len(vocabulary), dtype=torch.long)
        change[self.roles == BINARY] = 1
        change[(self.roles == LEAF) | (self.roles == SIGN)] = -1
        self.operand_change = change
        self._on_device: dict = {}

    def tables(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(roles, variable_index, operand_change) on ``device``, copied there once."""
        device = torch.device(device)
        if device not in self._on_device:
            self._on_device[device] = tuple(t.to(device) for t in (self.roles, self.variable_index,
                                                                    self.operand_change))
        return self._on_device[device]

    def start(self, dimension: torch.Tensor, max_len: int) -> GrammarState:
        """Streams about to write their first token; ``dimension`` (N,): equations each must have."""
        dimension = dimension.to(torch.long)
        zeros = torch.zeros_like(dimension)
        return GrammarState(self, dimension, max_len, missing=zeros + 1, phase=zeros, finished=zeros,
                            written=zeros)


class GrammarState:
    """Counters of N streams (see the module notes); :meth:`allowed` and :meth:`advance` step them."""

    def __init__(self, grammar: SymbolGrammar, dimension, max_len, missing, phase, finished, written):
        self.grammar, self.dimension, self.max_len = grammar, dimension, max_len
        self.missing, self.phase, self.finished, self.written = missing, phase, finished, written

    def allowed(self) -> torch.Tensor:
        """(N, V) bool: the tokens each stream may write next (at least ``<eos>`` when nothing fits)."""
        roles, variable, change = (t[None] for t in self.grammar.tables(self.dimension.device))
        missing, phase, finished = self.missing[:, None], self.phase[:, None], self.finished[:, None]
        dimension = self.dimension[:, None]
        room = self.max_len - self.written[:, None] - 1            # tokens left after the next one
        equations_to_come = dimension - finished - 1

        in_float = ((phase == 1) & (roles == MANTISSA)) | ((phase == 2) & (roles == EXPONENT))
        operand = (roles == BINARY) | (roles == UNARY) | (roles == SIGN) | ((roles == LEAF) & (variable < dimension))
        float_rest = torch.where(roles == SIGN, 2, 0)
        shortest = float_rest + (missing + change) + 2 * equations_to_come + 1
        expression = (phase == 0) & (missing > 0) & operand & (shortest <= room)
        separator = ((phase == 0) & (missing == 0) & (roles == SEPARATES) & (equations_to_come > 0)
                     & (1 + 2 * (equations_to_come - 1) + 1 <= room))
        end = (phase == 0) & (missing == 0) & (roles == ENDS) & (equations_to_come == 0)
        allowed = in_float | expression | separator | end
        # a stream with no way to finish (max_len too small, or a beam holding a refused token) ends
        stuck = ~allowed.any(dim=1, keepdim=True)
        return allowed | (stuck & (roles == ENDS))

    def advance(self, chosen: torch.Tensor) -> None:
        """Count the token each stream just wrote, ``chosen`` (N,) ids."""
        roles, _, change = self.grammar.tables(self.dimension.device)
        role = roles[chosen]
        self.written = self.written + 1
        separates = role == SEPARATES
        self.finished = self.finished + separates.long()
        in_expression = (role == BINARY) | (role == UNARY) | (role == LEAF) | (role == SIGN)
        self.missing = torch.where(separates, 1, torch.where(in_expression, self.missing + change[chosen],
                                                             self.missing))
        self.phase = torch.where(role == SIGN, 1, torch.where(role == MANTISSA, 2, torch.where(
            role == EXPONENT, 0, self.phase)))

    def select(self, rows: torch.Tensor) -> GrammarState:
        """The states of streams ``rows`` (N',) in that order: beams that survive a step."""
        return GrammarState(self.grammar, self.dimension[rows], self.max_len, self.missing[rows], self.phase[rows],
                            self.finished[rows], self.written[rows])
