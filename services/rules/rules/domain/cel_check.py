"""Static type checking of a CEL expression against a declared context schema.

Unknown names, unknown fields, unknown functions and operands of the wrong type are found here,
with their position, when a rule is saved (A6R-38): a saved rule never fails for such reasons at
evaluation time. Types follow the CEL specification (no implicit conversion between int, uint and
double, except in comparisons, which CEL defines across numeric types); `dyn` accepts anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.domain import cel_syntax as ast
from rules.domain.cel_types import (
    BOOL,
    BYTES,
    DOUBLE,
    DURATION,
    DYN,
    INT,
    NULL,
    NUMERIC,
    STRING,
    TIMESTAMP,
    TYPE,
    UINT,
    CelType,
    assignable,
    join,
    list_of,
    map_of,
)


class CelTypeError(Exception):
    def __init__(self, code: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset


_LITERALS = {"int": INT, "uint": UINT, "double": DOUBLE, "string": STRING, "bytes": BYTES, "bool": BOOL, "null": NULL}
_MACROS = {"all", "exists", "exists_one", "map", "filter"}
_STRING_PREDICATES = {"contains", "startsWith", "endsWith", "matches"}
_TIME_ACCESSORS = frozenset(
    "getFullYear getMonth getDayOfMonth getDate getDayOfWeek getDayOfYear getHours getMinutes getSeconds "
    "getMilliseconds".split()
)
_CONVERSIONS = {
    "int": ({"int", "uint", "double", "string", "timestamp"}, INT),
    "uint": ({"int", "uint", "double", "string"}, UINT),
    "double": ({"int", "uint", "double", "string"}, DOUBLE),
    "string": ({"int", "uint", "double", "string", "bool", "bytes", "timestamp", "duration"}, STRING),
    "timestamp": ({"string", "timestamp"}, TIMESTAMP),
    "duration": ({"string", "duration"}, DURATION),
}
_ARITHMETIC = {
    ("+", "timestamp", "duration"): TIMESTAMP,
    ("+", "duration", "duration"): DURATION,
    ("-", "timestamp", "timestamp"): DURATION,
    ("-", "timestamp", "duration"): TIMESTAMP,
    ("-", "duration", "duration"): DURATION,
    ("+", "string", "string"): STRING,
    ("+", "bytes", "bytes"): BYTES,
}
_ORDERED = NUMERIC | {"string", "bytes", "bool", "timestamp", "duration"}


class Checker:
    def __init__(self, env: Mapping[str, CelType]) -> None:
        self.scopes: list[dict[str, CelType]] = [dict(env)]

    def lookup(self, name: str) -> CelType | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def check(self, node: ast.Node) -> CelType:
        method = getattr(self, f"_{type(node).__name__.lower()}")
        result: CelType = method(node)
        return result

    def _literal(self, node: ast.Literal) -> CelType:
        return _LITERALS[node.kind]

    def _ident(self, node: ast.Ident) -> CelType:
        found = self.lookup(node.name)
        if found is None:
            if node.name in _CONVERSIONS or node.name in ("int", "uint", "double", "string", "bool"):
                return TYPE
            known = ", ".join(sorted({n for scope in self.scopes for n in scope}))
            raise CelTypeError("unknown_identifier", f"unknown name '{node.name}' (known: {known})", node.offset)
        return found

    def _select(self, node: ast.Select) -> CelType:
        return self._field(self.check(node.operand), node.field, node.offset)

    def _field(self, operand: CelType, name: str, offset: int) -> CelType:
        if operand.kind == "dyn":
            return DYN
        if operand.kind == "map" and operand.args[0].kind in ("string", "dyn"):
            return operand.args[1]
        if operand.kind == "object":
            found = operand.field(name)
            if found is None:
                fields = ", ".join(operand.field_names)
                raise CelTypeError("unknown_field", f"{operand} has no field '{name}' (fields: {fields})", offset)
            return found
        raise CelTypeError("type_error", f"cannot select field '{name}' of {article(operand)}", offset)

    def _index(self, node: ast.Index) -> CelType:
        operand, index = self.check(node.operand), self.check(node.index)
        if operand.kind == "dyn":
            return DYN
        if operand.kind == "list":
            self._expect(index, {"int", "uint"}, node.index.offset, "a list index")
            return operand.args[0]
        if operand.kind == "map":
            self._compatible(operand.args[0], index, node.index.offset, "map key")
            return operand.args[1]
        if operand.kind == "object" and isinstance(node.index, ast.Literal) and node.index.kind == "string":
            return self._field(operand, node.index.value, node.index.offset)
        raise CelTypeError("type_error", f"cannot index {article(operand)} with {article(index)}", node.offset)

    def _listexpr(self, node: ast.ListExpr) -> CelType:
        return list_of(join([self.check(item) for item in node.items]))

    def _mapexpr(self, node: ast.MapExpr) -> CelType:
        keys = [self.check(k) for k, _ in node.entries]
        return map_of(join(keys), join([self.check(v) for _, v in node.entries]))

    def _unary(self, node: ast.Unary) -> CelType:
        operand = self.check(node.operand)
        if node.op == "!":
            self._expect(operand, {"bool"}, node.operand.offset, "'!'")
            return BOOL
        self._expect(operand, {"int", "double"}, node.operand.offset, "unary '-'")
        return operand

    def _conditional(self, node: ast.Conditional) -> CelType:
        self._expect(self.check(node.condition), {"bool"}, node.condition.offset, "a condition")
        return join([self.check(node.then), self.check(node.otherwise)])

    def _binary(self, node: ast.Binary) -> CelType:
        left, right = self.check(node.left), self.check(node.right)
        op = node.op
        if op in ("&&", "||"):
            self._expect(left, {"bool"}, node.left.offset, f"'{op}'")
            self._expect(right, {"bool"}, node.right.offset, f"'{op}'")
            return BOOL
        if op in ("==", "!="):
            if not (left.kind == "null" or right.kind == "null" or _numeric_pair(left, right)):
                self._compatible(left, right, node.offset, f"'{op}'")
            return BOOL
        if op == "in":
            if right.kind == "dyn":
                return BOOL
            if right.kind not in ("list", "map"):
                raise CelTypeError(
                    "type_error", f"'in' needs a list or map on its right, not {article(right)}", node.offset
                )
            if not _numeric_pair(left, right.args[0]):
                self._compatible(right.args[0], left, node.offset, "'in'")
            return BOOL
        if op in ("<", "<=", ">", ">="):
            if "dyn" in (left.kind, right.kind) or _numeric_pair(left, right):
                return BOOL
            if left.kind == right.kind and left.kind in _ORDERED:
                return BOOL
            raise CelTypeError(
                "type_error", f"cannot compare {article(left)} with {article(right)} using '{op}'", node.offset
            )
        return self._arithmetic(node, left, right)

    def _arithmetic(self, node: ast.Binary, left: CelType, right: CelType) -> CelType:
        op = node.op
        if left.kind == "dyn" or right.kind == "dyn":
            return DYN
        if left.kind == right.kind and left.kind in NUMERIC and not (op == "%" and left.kind == "double"):
            return left
        if op == "+" and left.kind == right.kind == "list":
            return list_of(join([left.args[0], right.args[0]]))
        found = _ARITHMETIC.get((op, left.kind, right.kind))
        if found is None:
            hint = (
                " (CEL does not convert between int, uint and double: use int() or double())"
                if (left.kind in NUMERIC and right.kind in NUMERIC)
                else ""
            )
            raise CelTypeError(
                "type_error", f"'{op}' is not defined for {article(left)} and {article(right)}{hint}", node.offset
            )
        return found

    def _call(self, node: ast.Call) -> CelType:
        if node.target is not None and node.function in _MACROS:
            return self._macro(node)
        if node.target is None and node.function == "has":
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Select):
                raise CelTypeError("type_error", "has() takes one field selection, e.g. has(a.b)", node.offset)
            self._select(node.args[0])
            return BOOL
        args = ([self.check(node.target)] if node.target is not None else []) + [self.check(a) for a in node.args]
        return self._function(node, args)

    def _function(self, node: ast.Call, args: list[CelType]) -> CelType:
        name, n = node.function, len(args)
        if name == "size" and n == 1:
            self._expect(args[0], {"string", "bytes", "list", "map"}, node.offset, "size()")
            return INT
        if name in _STRING_PREDICATES and n == 2:
            self._expect(args[0], {"string"}, node.offset, f"{name}()")
            self._expect(args[1], {"string"}, node.offset, f"{name}()")
            return BOOL
        if name in _TIME_ACCESSORS and n in (1, 2) and node.target is not None:
            self._expect(args[0], {"timestamp", "duration"}, node.offset, f"{name}()")
            if n == 2:
                self._expect(args[1], {"string"}, node.offset, f"the time zone of {name}()")
            return INT
        if name in _CONVERSIONS and n == 1 and node.target is None:
            accepted, result = _CONVERSIONS[name]
            self._expect(args[0], accepted, node.offset, f"{name}()")
            return result
        if name == "dyn" and n == 1 and node.target is None:
            return DYN
        if name == "type" and n == 1 and node.target is None:
            return TYPE
        raise CelTypeError("unknown_function", f"unknown function {name}() with {n} argument(s)", node.offset)

    def _macro(self, node: ast.Call) -> CelType:
        assert node.target is not None
        target = self.check(node.target)
        arity = (2, 3) if node.function == "map" else (2,)
        if len(node.args) not in arity or not isinstance(node.args[0], ast.Ident):
            raise CelTypeError("type_error", f"{node.function}() takes a variable name and an expression", node.offset)
        if target.kind == "list":
            element = target.args[0]
        elif target.kind == "map":
            element = target.args[0]
        elif target.kind == "dyn":
            element = DYN
        else:
            raise CelTypeError(
                "type_error", f"{node.function}() needs a list or map, not {article(target)}", node.offset
            )
        self.scopes.append({node.args[0].name: element})
        try:
            bodies = [self.check(body) for body in node.args[1:]]
        finally:
            self.scopes.pop()
        if node.function in ("all", "exists", "exists_one", "filter") or len(bodies) == 2:
            self._expect(bodies[0], {"bool"}, node.args[1].offset, f"the condition of {node.function}()")
        if node.function == "map":
            return list_of(bodies[-1])
        return list_of(element) if node.function == "filter" else BOOL

    def _expect(self, actual: CelType, kinds: set[str], offset: int, where: str) -> None:
        if actual.kind != "dyn" and actual.kind not in kinds:
            wanted = " or ".join(sorted(kinds))
            raise CelTypeError("type_error", f"{where} needs a {wanted}, not {article(actual)}", offset)

    def _compatible(self, a: CelType, b: CelType, offset: int, where: str) -> None:
        if not assignable(a, b):
            raise CelTypeError("type_error", f"{where} cannot compare {article(a)} with {article(b)}", offset)


def article(t: CelType) -> str:
    text = str(t)
    return f"an {text}" if text[0] in "aeiou" else f"a {text}"


def _numeric_pair(a: CelType, b: CelType) -> bool:
    return a.kind in NUMERIC and b.kind in NUMERIC


def check(node: ast.Node, env: Mapping[str, CelType]) -> CelType:
    return Checker(env).check(node)
