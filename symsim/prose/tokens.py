"""SymPy ODE systems <-> prefix-notation token streams, the PROSE transformer's symbol language.

    >>> u_0, u_1 = sympy.symbols("u_0 u_1")
    >>> tokens = encode_system([u_0 - 2*u_1, sympy.Rational(8, 3)*u_0])
    >>> tokens
    ['sub', 'u_0', 'mul', '2', 'u_1', '|', 'mul', '+', 'N267', 'E0', 'u_0']
    >>> decode_system(tokens).exprs
    [u_0 - 2*u_1, 2.67*u_0]

A system is 1 to ``MAX_EQUATIONS`` right-hand sides du_i/dt = f_i(u_0, ..., u_{d-1}); each is
written in prefix (Polish) notation and the equations are joined by the separator ``|``.
:func:`decode_system` reads such a stream back (never raising: what a transformer emits may be
garbage), and :func:`round_constants` gives the expression a round trip is expected to return.

What the encoder writes for each SymPy node:

- a sum is a left fold of ``add``; a term with a negative numeric coefficient is subtracted
  (``x - 2*y`` -> ``sub u_0 mul 2 u_1``). The first term with a non-negative coefficient leads
  (so ``10*y - 10*x`` reads ``sub mul 10 u_1 mul 10 u_0``); the others follow in SymPy's order.
- a product with a negative coefficient is ``neg`` of its negation (``-x*y`` -> ``neg mul u_0 u_1``);
  otherwise the factors with a negative exponent form a denominator (``x/y`` -> ``div u_0 u_1``,
  ``1/(x*y)`` -> ``inv mul u_0 u_1``) and each side is a left fold of ``mul``.
- ``b**(p/2**m)`` is ``m`` times ``sqrt`` of b, raised to the integer power |p|, under ``inv`` when
  p < 0 (``b**-2`` -> ``inv pow2 b``, ``b**(-1/2)`` -> ``inv sqrt b``, ``b**(3/2)`` -> ``pow3 sqrt b``).
  An integer power n > 3 is a square when n is even, else a cube when 3 divides n, else a
  product with one more factor: ``b**4`` -> ``pow2 pow2 b``, ``b**5`` -> ``mul pow2 pow2 b b``
  (the base is written twice there; a skeleton then gets two placeholders for its constants).
  Half-integer and other dyadic exponents are accepted, not only +-1/2, because the decoder builds
  them (``pow3 sqrt u_0`` is u_0**(3/2) in SymPy) and what it decodes should encode again.
  Any other exponent (symbolic, float, 1/3) is a :class:`TokenizationError`.
- integers 0..10 are one token, -10..-1 are ``neg k``, every other number (larger integers,
  rationals, floats) is three tokens: sign, mantissa ``N100``..``N999`` and exponent ``E-10``..``E10``
  for sign * mantissa/100 * 10**exponent, rounded to 3 significant digits (8/3 -> ``+ N267 E0``).
  A float zero is the integer ``0``. A nonzero number whose rounded magnitude lies outside
  1.00e-10 .. 9.99e10 is a :class:`TokenizationError` rather than silently becoming 0 or clamped:
  a coefficient the tokens cannot hold is a data-generation problem the caller should see.
- ``E`` is ``exp 1``; sin, cos, exp, log are unary operators; u_0..u_4 are variables (plain
  ``sympy.Symbol("u_i")``, and only u_0..u_{d-1} in a d-equation system).
- a system whose rounded constants make SymPy evaluate to something the decoder rejects is a
  :class:`TokenizationError` too: ``exp(1024)`` stays exact but decodes to the float exp(1020.0),
  beyond float64, and ``sqrt(sin(11))`` decodes to a complex float.

In a skeleton (``skeleton=True``) every constant group (an integer token or a float's three
tokens) is the placeholder ``<c>``; the rest is unchanged (``-2`` -> ``neg <c>``). Out-of-range
constants are no error there, since a skeleton holds no values. The decoder numbers the
placeholders ``c_0, c_1, ...`` in order of appearance so that a caller can fit them.
"""

import math
import operator
from dataclasses import dataclass, field

import sympy

from symsim.errors import SymsimError


class TokenizationError(SymsimError):
    """A system cannot be written in the PROSE token language (the message names the sub-expression)."""


# -- the vocabulary ---------------------------------------------------------------------

PAD, BOS, EOS, SEPARATOR, PLACEHOLDER = "<pad>", "<bos>", "<eos>", "|", "<c>"
SPECIAL_TOKENS = (PAD, BOS, EOS, SEPARATOR, PLACEHOLDER)

# Token -> how the decoder builds the SymPy node. The encoder's function table below is read
# off the same entries, so the two directions cannot drift apart.
BINARY_OPERATORS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}
UNARY_OPERATORS = {
    "neg": operator.neg,
    "inv": lambda a: sympy.S.One / a,
    "pow2": lambda a: a**2,
    "pow3": lambda a: a**3,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "exp": sympy.exp,
    "log": sympy.log,
}
FUNCTION_TOKENS = {UNARY_OPERATORS[name]: name for name in ("sin", "cos", "exp", "log")}

MAX_EQUATIONS = 5
VARIABLES = tuple(sympy.Symbol(f"u_{i}") for i in range(MAX_EQUATIONS))
VARIABLE_TOKENS = tuple(v.name for v in VARIABLES)

MAX_INTEGER_TOKEN = 10
INTEGER_TOKENS = tuple(str(k) for k in range(MAX_INTEGER_TOKEN + 1))

MIN_EXPONENT, MAX_EXPONENT = -10, 10
SIGN_TOKENS = ("+", "-")
MANTISSA_TOKENS = tuple(f"N{m}" for m in range(100, 1000))
EXPONENT_TOKENS = tuple(f"E{e}" for e in range(MIN_EXPONENT, MAX_EXPONENT + 1))


class Vocabulary:
    """Token strings <-> integer ids, in a fixed order (ids are stable across runs and machines)."""

    def __init__(self, tokens):
        self._tokens = tuple(tokens)
        self._ids = {token: i for i, token in enumerate(self._tokens)}
        if len(self._ids) != len(self._tokens):
            raise ValueError("vocabulary tokens must be distinct")

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token) -> bool:
        return isinstance(token, str) and token in self._ids

    def __iter__(self):
        return iter(self._tokens)

    def ids(self, tokens) -> list[int]:
        """The id of each token; an unknown token is a :class:`TokenizationError`."""
        result = []
        for token in tokens:
            if token not in self:
                raise TokenizationError(f"unknown token {token!r}")
            result.append(self._ids[token])
        return result

    def tokens(self, ids) -> list[str]:
        """The token of each id; an id outside 0..len-1 is a :class:`TokenizationError`."""
        result = []
        for i in ids:
            try:
                index = operator.index(i)   # ints, numpy integers, 0-d integer tensors
            except TypeError:
                raise TokenizationError(f"{i!r} is not a token id") from None
            if not 0 <= index < len(self._tokens):
                raise TokenizationError(f"unknown token id {index} (the vocabulary has {len(self)} tokens)")
            result.append(self._tokens[index])
        return result

    def config_ids(self) -> dict[str, int]:
        """What a model config needs of the vocabulary: ``load_config(name, **VOCAB.config_ids())``."""
        return {"vocab_size": len(self), "pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}

    @property
    def pad_id(self) -> int:
        return self._ids[PAD]

    @property
    def bos_id(self) -> int:
        return self._ids[BOS]

    @property
    def eos_id(self) -> int:
        return self._ids[EOS]

    @property
    def separator_id(self) -> int:
        return self._ids[SEPARATOR]

    @property
    def placeholder_id(self) -> int:
        return self._ids[PLACEHOLDER]


VOCAB = Vocabulary(SPECIAL_TOKENS + tuple(BINARY_OPERATORS) + tuple(UNARY_OPERATORS) + VARIABLE_TOKENS
                   + INTEGER_TOKENS + SIGN_TOKENS + MANTISSA_TOKENS + EXPONENT_TOKENS)


# -- constants: 3 significant digits, both directions -----------------------------------

def _float_tokens(number) -> list[str]:
    """A nonzero number as [sign, mantissa, exponent], rounded to 3 significant digits."""
    out_of_range = TokenizationError(f"constant {number!s} is outside the float tokens' range 1.00e-10 .. 9.99e+10")
    value = float(number)
    # float() of a huge or tiny number overflows to inf or underflows to 0: out of range either way
    if value == 0 or not math.isfinite(value):
        raise out_of_range
    digits, exponent = f"{abs(value):.2e}".split("e")   # '2.67e+00': the formatter rounds
    exponent = int(exponent)
    if not MIN_EXPONENT <= exponent <= MAX_EXPONENT:
        raise out_of_range
    return ["+" if value > 0 else "-", "N" + digits.replace(".", ""), f"E{exponent}"]


def _float_from_tokens(sign: str, mantissa: str, exponent: str) -> sympy.Float:
    """The value of a float's three tokens (``'+', 'N267', 'E0'`` -> 2.67)."""
    digits = mantissa[1:]
    return sympy.Float(f"{sign}{digits[0]}.{digits[1:]}e{exponent[1:]}")


def _rounded_number(number: sympy.Number) -> sympy.Number:
    if number.is_Integer and abs(number) <= MAX_INTEGER_TOKEN:
        return number
    if number.is_zero:
        return sympy.S.Zero
    return _float_from_tokens(*_float_tokens(number))


def round_constants(expr) -> sympy.Expr:
    """``expr`` with every number rounded as the tokens round it, exponents left alone.

        >>> u_0 = sympy.Symbol("u_0")
        >>> round_constants(sympy.Rational(8, 3)*u_0**2 + 28)
        2.67*u_0**2 + 28.0

    This is what ``decode_system(encode_system([expr])).exprs[0]`` equals (as a function);
    a number out of the tokens' range is a :class:`TokenizationError`, as in the encoder.
    """
    expr = sympy.sympify(expr)
    if expr.is_Number:
        return _rounded_number(expr)
    if expr.is_Pow:
        return sympy.Pow(round_constants(expr.base), expr.exp)
    if not expr.args:
        return expr
    return expr.func(*[round_constants(arg) for arg in expr.args])


# Constants a decoded system may hold: floats within float64's range (the system is integrated in
# float64, and mpmath's argument reduction for sin(1e10000) takes seconds) and exact rationals
# below 10**100 (SymPy's perfect-power test in sqrt of a 600-digit rational takes ~1 s). Garbage
# such as pow3 pow3 pow3 ... 10 exceeds them; encode_system rejects what would decode beyond them.
_MAX_FLOAT = sympy.Float("1e300")
_MAX_EXACT = 10**100


def _has_oversized_constant(expr) -> bool:
    for number in expr.atoms(sympy.Rational, sympy.Float):
        if number.is_Float and not number.is_zero and not 1 / _MAX_FLOAT < abs(number) < _MAX_FLOAT:
            return True
        if number.is_Rational and max(abs(number.p), number.q) > _MAX_EXACT:
            return True
    return False


def _constant_problem(expr) -> str | None:
    """Why ``expr`` cannot stand in a decoded system, or None: the check both directions share."""
    if _has_oversized_constant(expr):
        return "holds a constant beyond float64's range or an exact one beyond 10**100"
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return f"is {_short(expr)}, which is not finite"
    if expr.has(sympy.I):
        return f"is {_short(expr)}, which is complex"
    return None


def _short(expr, limit=60) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[:limit] + "..."


# -- encoding ---------------------------------------------------------------------------

def encode_system(exprs, skeleton: bool = False, with_ends: bool = False) -> list[str]:
    """Tokens of the system du_i/dt = exprs[i], equations separated by ``|``.

    ``skeleton``: every constant becomes ``<c>``. ``with_ends``: wrapped in ``<bos>`` ... ``<eos>``.
    Raises :class:`TokenizationError` naming the equation and the sub-expression it cannot write.
    """
    exprs = list(exprs)
    if not 1 <= len(exprs) <= MAX_EQUATIONS:
        raise TokenizationError(f"a system has 1 to {MAX_EQUATIONS} equations, got {len(exprs)}")
    encoder = _Encoder(dimension=len(exprs), skeleton=skeleton)
    tokens = [BOS] if with_ends else []
    for i, expr in enumerate(exprs):
        if i:
            tokens.append(SEPARATOR)
        try:
            expr = sympy.sympify(expr, strict=True)
            tokens += encoder.encode(expr)
            # exp(1024) and sqrt(sin(11)) stay exact here but decode to floats: exp(1020.0) is
            # beyond float64 and sqrt(-0.99999) is complex, which the decoder rejects
            problem = None if skeleton else _constant_problem(round_constants(expr))
            if problem:
                raise TokenizationError(f"with its constants rounded it {problem}")
        except (sympy.SympifyError, TokenizationError) as error:
            raise TokenizationError(f"equation {i} (du_{i}/dt = {expr!s}): {error}") from None
    if with_ends:
        tokens.append(EOS)
    return tokens


class _Encoder:
    """Prefix tokens of one expression, by node kind: ``_encode_<SymPy class>`` (first match in the MRO)."""

    def __init__(self, dimension: int, skeleton: bool):
        self.dimension = dimension
        self.skeleton = skeleton

    def encode(self, expr) -> list[str]:
        for kind in type(expr).__mro__:
            method = getattr(self, f"_encode_{kind.__name__}", None)
            if method is not None:
                return method(expr)
        raise TokenizationError(f"unsupported sub-expression {expr} ({type(expr).__name__})")

    def _encode_Symbol(self, expr):
        if expr not in VARIABLES:
            if expr.name in VARIABLE_TOKENS:
                raise TokenizationError(f"symbol {expr} is not the plain sympy.Symbol({expr.name!r}) "
                                        f"(assumptions {expr.assumptions0})")
            raise TokenizationError(f"unknown symbol {expr}; the variables are u_0..u_{MAX_EQUATIONS - 1}")
        if VARIABLES.index(expr) >= self.dimension:
            raise TokenizationError(f"variable {expr} in a {self.dimension}-equation system, "
                                    f"whose variables are u_0..u_{self.dimension - 1}")
        return [expr.name]

    def _encode_Integer(self, expr):
        if 0 <= expr <= MAX_INTEGER_TOKEN:
            return [PLACEHOLDER if self.skeleton else str(expr)]
        if -MAX_INTEGER_TOKEN <= expr < 0:
            return ["neg", *self._encode_Integer(-expr)]
        return self._encode_Float(expr)

    def _encode_Rational(self, expr):
        return self._encode_Float(expr)

    def _encode_Float(self, expr):
        if self.skeleton:
            return [PLACEHOLDER]
        if expr.is_zero:
            return ["0"]
        return _float_tokens(expr)

    def _encode_Number(self, expr):   # what no subclass above took: nan, oo, zoo
        raise TokenizationError(f"{expr!s} is not a finite constant")

    def _encode_Exp1(self, expr):
        return ["exp", *self._encode_Integer(sympy.S.One)]

    def _encode_Function(self, expr):
        if type(expr) not in FUNCTION_TOKENS:
            raise TokenizationError(f"unsupported function {expr.func.__name__} in {expr}")
        return [FUNCTION_TOKENS[type(expr)], *self.encode(expr.args[0])]

    def _encode_Add(self, expr):
        terms = list(expr.args)
        leader = next((t for t in terms if not _has_negative_coefficient(t)), terms[0])
        terms.remove(leader)
        tokens = self.encode(leader)
        for term in terms:
            if _has_negative_coefficient(term):
                tokens = ["sub", *tokens, *self.encode(-term)]
            else:
                tokens = ["add", *tokens, *self.encode(term)]
        return tokens

    def _encode_Mul(self, expr):
        if _has_negative_coefficient(expr):
            return ["neg", *self.encode(-expr)]
        numerator, denominator = [], []
        for factor in expr.args:
            if factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denominator.append(sympy.Pow(factor.base, -factor.exp, evaluate=False))
            else:
                numerator.append(factor)
        if not denominator:
            return self._product(numerator)
        if not numerator:
            return ["inv", *self._product(denominator)]
        return ["div", *self._product(numerator), *self._product(denominator)]

    def _product(self, factors):
        tokens = self.encode(factors[0])
        for factor in factors[1:]:
            tokens = ["mul", *tokens, *self.encode(factor)]
        return tokens

    def _encode_Pow(self, expr):
        base, exponent = expr.args
        if not (exponent.is_Rational and _is_power_of_two(exponent.q)):
            raise TokenizationError(f"exponent {exponent!s} in {expr!s} has no tokens "
                                    f"(integers and halves, quarters, ... are written with pow2, pow3, sqrt, inv)")
        tokens = self.encode(base)
        for _ in range(exponent.q.bit_length() - 1):
            tokens = ["sqrt", *tokens]
        tokens = _integer_power(tokens, abs(exponent.p))
        return ["inv", *tokens] if exponent.is_negative else tokens


def _has_negative_coefficient(term) -> bool:
    coefficient, _ = term.as_coeff_Mul()
    return bool(coefficient.is_negative)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _integer_power(base_tokens: list[str], n: int) -> list[str]:
    """``base**n`` from pow2, pow3 and mul (n >= 1)."""
    if n == 1:
        return base_tokens
    if n in (2, 3):
        return [f"pow{n}", *base_tokens]
    if n % 2 == 0:
        return ["pow2", *_integer_power(base_tokens, n // 2)]
    if n % 3 == 0:
        return ["pow3", *_integer_power(base_tokens, n // 3)]
    return ["mul", *_integer_power(base_tokens, n - 1), *base_tokens]


# -- decoding ---------------------------------------------------------------------------

# Deeper prefix trees are rejected before SymPy sees them: its evaluation and traversals recurse
# several Python frames per level, and some shapes (sin(1 + sin(1 + ...))) overflow the stack
# at ~300 levels; 48 is far beyond any ODE right-hand side and leaves the caller's stack a margin.
MAX_DEPTH = 48


@dataclass
class DecodedSystem:
    """A stream that reads as a system: du_i/dt = exprs[i]; skeleton constants are ``placeholders``."""

    exprs: list
    placeholders: list = field(default_factory=list)

    @property
    def dimension(self) -> int:
        return len(self.exprs)


@dataclass
class InvalidSystem:
    """A stream that does not read as a system, and why."""

    reason: str


class _Malformed(Exception):
    """Internal: the stream is not a system (becomes an InvalidSystem, never leaves this module)."""


def decode_system(tokens_or_ids) -> DecodedSystem | InvalidSystem:
    """The system a stream of tokens or ids writes, or why it writes none; never raises.

        >>> decode_system(['<bos>', 'sub', 'u_0', 'mul', '2', 'u_1', '|', 'u_0', '<eos>', '<pad>']).exprs
        [u_0 - 2*u_1, u_0]

    A leading ``<bos>`` is skipped, reading stops at ``<eos>``, trailing ``<pad>`` are ignored.
    Invalid: unknown tokens or ids, truncated or overlong equations, empty equations, more than
    ``MAX_EQUATIONS``, malformed floats, variables beyond the dimension, nesting deeper than
    ``MAX_DEPTH``, and any sub-expression that SymPy evaluates to infinity, nan, a complex constant,
    a float beyond float64's range or an exact rational beyond 10**100.
    """
    try:
        positioned = _strip_ends(_as_tokens(tokens_or_ids))
        equations = _split_equations(positioned)
        placeholders = []
        exprs = [_parse_prefix(_leaves_and_operators(eq, len(equations), placeholders), i)
                 for i, eq in enumerate(equations)]
    except _Malformed as malformed:
        return InvalidSystem(str(malformed))
    return DecodedSystem(exprs, placeholders)


def _as_tokens(tokens_or_ids) -> list[tuple[int, str]]:
    """(position, token) for each item; ids are looked up, anything unknown is malformed."""
    if isinstance(tokens_or_ids, (str, bytes)):
        raise _Malformed("expected a sequence of tokens or ids, got a single string")
    try:
        items = list(tokens_or_ids)
    except TypeError:
        raise _Malformed(f"expected a sequence of tokens or ids, got {type(tokens_or_ids).__name__}") from None
    positioned = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            if item not in VOCAB:
                raise _Malformed(f"unknown token {item[:20]!r} at position {position}")
            positioned.append((position, item))
            continue
        try:
            index = operator.index(item)   # ints, numpy integers, 0-d integer tensors
        except TypeError:
            raise _Malformed(f"{type(item).__name__} at position {position} is neither a token nor an id") from None
        if not 0 <= index < len(VOCAB):
            raise _Malformed(f"unknown token id {index} at position {position}")
        positioned.append((position, VOCAB.tokens([index])[0]))
    return positioned


def _strip_ends(positioned):
    if positioned and positioned[0][1] == BOS:
        positioned = positioned[1:]
    ends = [i for i, (_, token) in enumerate(positioned) if token == EOS]
    if ends:
        positioned = positioned[:ends[0]]
    end = len(positioned)
    while end and positioned[end - 1][1] == PAD:
        end -= 1
    positioned = positioned[:end]
    for position, token in positioned:
        if token in (PAD, BOS, EOS):
            raise _Malformed(f"{token} inside the stream at position {position}")
    return positioned


def _split_equations(positioned):
    if not positioned:
        raise _Malformed("the stream holds no equation")
    equations = [[]]
    for position, token in positioned:
        if token == SEPARATOR:
            equations.append([])
        else:
            equations[-1].append((position, token))
    if len(equations) > MAX_EQUATIONS:
        raise _Malformed(f"{len(equations)} equations, at most {MAX_EQUATIONS}")
    for i, equation in enumerate(equations):
        if not equation:
            raise _Malformed(f"equation {i} is empty")
    return equations


def _leaves_and_operators(equation, dimension, placeholders):
    """The equation with each operand built: a list of (position, token or SymPy leaf).

    Reads left to right so that placeholders are numbered in order of appearance and a float's
    sign, mantissa and exponent are read together.
    """
    items, i = [], 0
    while i < len(equation):
        position, token = equation[i]
        if token in BINARY_OPERATORS or token in UNARY_OPERATORS:
            items.append((position, token))
        elif token in VARIABLE_TOKENS:
            if VARIABLE_TOKENS.index(token) >= dimension:
                raise _Malformed(f"variable {token} at position {position} in a {dimension}-equation system")
            items.append((position, VARIABLES[VARIABLE_TOKENS.index(token)]))
        elif token in INTEGER_TOKENS:
            items.append((position, sympy.Integer(int(token))))
        elif token == PLACEHOLDER:
            placeholders.append(sympy.Symbol(f"c_{len(placeholders)}"))
            items.append((position, placeholders[-1]))
        elif token in SIGN_TOKENS:
            parts = [t for _, t in equation[i:i + 3]]
            if len(parts) < 3 or parts[1] not in MANTISSA_TOKENS or parts[2] not in EXPONENT_TOKENS:
                raise _Malformed(f"sign {token} at position {position} is not followed by a mantissa and an exponent")
            items.append((position, _float_from_tokens(*parts)))
            i += 2
        else:   # a mantissa or exponent token without its sign
            raise _Malformed(f"{token} at position {position} outside a float")
        i += 1
    return items


def _parse_prefix(items, equation_index):
    """The expression of one equation's prefix items, read right to left with a stack (no recursion)."""
    stack = []   # (expression, depth); the top is the leftmost operand read so far
    for position, item in reversed(items):
        if not isinstance(item, str):
            stack.append((item, 0))
            continue
        arity = 2 if item in BINARY_OPERATORS else 1
        if len(stack) < arity:
            raise _Malformed(f"equation {equation_index} is truncated: {item} at position {position} "
                             f"lacks an operand")
        operands = [stack.pop() for _ in range(arity)]
        depth = 1 + max(d for _, d in operands)
        if depth > MAX_DEPTH:
            raise _Malformed(f"equation {equation_index} nests deeper than {MAX_DEPTH} at position {position}")
        build = BINARY_OPERATORS.get(item) or UNARY_OPERATORS[item]
        stack.append((_built(build, [e for e, _ in operands], item, position), depth))
    if len(stack) != 1:
        raise _Malformed(f"equation {equation_index} has tokens after its expression "
                         f"({len(stack)} expressions where one is expected)")
    return stack[0][0]


def _built(build, operands, token, position):
    try:
        result = build(*operands)
    except Exception as error:   # SymPy's evaluation can raise many kinds on odd constants
        raise _Malformed(f"{token} at position {position}: SymPy cannot build it ({type(error).__name__})") from None
    problem = _constant_problem(result)
    if problem:
        raise _Malformed(f"{token} at position {position} {problem}")
    return result
