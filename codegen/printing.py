"""What every generated kernel prints the same way, whatever its backend's SymPy printer."""


class DoubleLiterals:
    """Mixin for SymPy code printers: numbers as the exact double the kernels compute with.

    ``repr`` round-trips a double (SymPy's default prints 15 digits), and a rational
    becomes its nearest double once, at render time, instead of a division per call.
    """

    def _print_Float(self, number) -> str:
        return repr(float(number))

    def _print_Rational(self, number) -> str:
        return repr(float(number))
