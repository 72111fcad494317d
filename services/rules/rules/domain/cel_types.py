"""CEL types of the values a rule can see, and synthetic values of those types.

A context schema is a tree of these types; the checker (cel_check) types an expression against it,
and `synthetic` builds a value of each type for the trial evaluation done when a rule is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class CelType:
    kind: str  # int uint double string bool bytes null timestamp duration dyn type list map object
    args: tuple[CelType, ...] = ()
    name: str = ""
    fields: tuple[tuple[str, CelType], ...] = ()

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list({self.args[0]})"
        if self.kind == "map":
            return f"map({self.args[0]}, {self.args[1]})"
        if self.kind == "object":
            return self.name
        return self.kind

    def field(self, name: str) -> CelType | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    @property
    def field_names(self) -> list[str]:
        return [k for k, _ in self.fields]


INT = CelType("int")
UINT = CelType("uint")
DOUBLE = CelType("double")
STRING = CelType("string")
BOOL = CelType("bool")
BYTES = CelType("bytes")
NULL = CelType("null")
TIMESTAMP = CelType("timestamp")
DURATION = CelType("duration")
DYN = CelType("dyn")
TYPE = CelType("type")
NUMERIC = frozenset({"int", "uint", "double"})


def list_of(elem: CelType) -> CelType:
    return CelType("list", (elem,))


def map_of(key: CelType, value: CelType) -> CelType:
    return CelType("map", (key, value))


def obj(name: str, fields: Mapping[str, CelType]) -> CelType:
    """A record: at run time a map with exactly these keys, each of its declared type."""
    return CelType("object", name=name, fields=tuple(fields.items()))


def assignable(a: CelType, b: CelType) -> bool:
    """Whether values of the two types can meet (in ==, in, list elements): same type, or dyn."""
    if a.kind == "dyn" or b.kind == "dyn":
        return True
    if a.kind != b.kind:
        return False
    if a.kind == "object":
        return a.name == b.name
    return all(assignable(x, y) for x, y in zip(a.args, b.args, strict=True))


def join(types: list[CelType]) -> CelType:
    """The common type of list elements or conditional branches; dyn when they differ."""
    result: CelType | None = None
    for t in types:
        if result is None or result.kind == "dyn":
            result = t
        elif t.kind != "dyn" and not assignable(result, t):
            return DYN
    return result or DYN


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def synthetic(t: CelType, text: str = "x") -> Any:
    """A value of type `t`, strings being `text`: lists hold one element, so comprehension bodies
    run in a trial."""
    simple: dict[str, Any] = {
        "int": 1,
        "uint": 1,
        "double": 1.0,
        "string": text,
        "bool": False,
        "bytes": b"x",
        "null": None,
        "timestamp": _EPOCH,
        "duration": timedelta(seconds=1),
        "dyn": 1,
        "type": 1,
    }
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "list":
        return [synthetic(t.args[0], text)]
    if t.kind == "map":
        return {synthetic(t.args[0], text): synthetic(t.args[1], text)}
    return {name: synthetic(ft, text) for name, ft in t.fields}
