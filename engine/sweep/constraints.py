"""Sweep constraints: small comparisons over config fields, parsed and evaluated without ``eval``.

A constraint is one expression such as ``delta_min < target_delta < delta_max``,
``max_dte >= 2 * target_dte`` or ``exit_style == 'tp_and_roll' or tp_threshold_pct == 80``.
It is parsed with :mod:`ast` and only these nodes are accepted: comparisons (``< <= > >= == !=``,
chained), ``and``/``or``/``not``, ``+ - * /`` and unary minus, numbers, quoted strings,
``true``/``false`` and field names (nested ones dotted: ``scoring.w_delta``). Anything else (a
call, an attribute of something that is not a config block, an index, a lambda) is refused, so a
spec file can never run code.
"""

import ast
import operator
from collections.abc import Callable, Mapping

Values = Mapping[str, object]  # field name (dotted for nested) -> value

_COMPARE: dict[type, Callable[[object, object], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITHMETIC: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_NAMES = {"true": True, "false": False}


class Constraint:
    """One parsed constraint; :meth:`holds` evaluates it on a configuration's values."""

    def __init__(self, text: str, fields: set[str]) -> None:
        """Parse ``text``; raise ValueError naming what is not allowed or an unknown field."""
        self.text = text
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise ValueError(f"{text!r} is not an expression ({exc.msg})") from exc
        if not isinstance(tree, ast.Compare | ast.BoolOp) and not (
            isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not)
        ):
            raise ValueError(f"{text!r} must be a comparison, e.g. 'delta_min < delta_max'")
        self.names: set[str] = set()
        self._check(tree, fields)
        self._tree = tree

    def _check(self, node: ast.AST, fields: set[str]) -> None:
        if isinstance(node, ast.Name | ast.Attribute):
            name = _dotted(node)
            if name in _NAMES:
                return
            if name is None or name not in fields:
                shown = ast.unparse(node)
                raise ValueError(f"{self.text!r}: {shown!r} is not a config field")
            self.names.add(name)
            return
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | str):
                raise ValueError(f"{self.text!r}: constant {node.value!r} is not allowed")
            return
        allowed = (
            (isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops))
            or (isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC)
            or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not))
            or isinstance(node, ast.BoolOp)
        )
        if not allowed:
            raise ValueError(f"{self.text!r}: {ast.unparse(node)!r} is not allowed")
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.cmpop | ast.operator | ast.unaryop | ast.boolop):
                self._check(child, fields)

    def holds(self, values: Values) -> bool:
        """Whether the constraint holds for ``values``; a comparison that cannot be made (a
        string against a number, a division by zero) does not hold."""
        try:
            return bool(_evaluate(self._tree, values))
        except (TypeError, ZeroDivisionError):
            return False


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _evaluate(node: ast.AST, values: Values) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        name = _dotted(node)
        return _NAMES[name] if name in _NAMES else values[name]
    if isinstance(node, ast.BinOp):
        return _ARITHMETIC[type(node.op)](
            _evaluate(node.left, values), _evaluate(node.right, values)
        )
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate(node.operand, values)
        return (not inner) if isinstance(node.op, ast.Not) else -inner
    if isinstance(node, ast.BoolOp):
        parts = (_evaluate(v, values) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    assert isinstance(node, ast.Compare)
    left = _evaluate(node.left, values)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _evaluate(comparator, values)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True
