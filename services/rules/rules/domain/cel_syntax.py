"""A parser for the Common Expression Language, producing an AST with source positions.

The CEL package evaluates expressions but has no type checker, so the rules service checks an
expression against its declared context itself (cel_check) before it is saved: this module gives
that checker a tree to walk. It follows the CEL grammar (github.com/google/cel-spec, langdef.md)
except message construction (`Foo{a: 1}`) and optional selection (`a.?b`), which rules have no use
for and are refused with their position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rules.domain.cel_lexer import CelSyntaxError, Token, tokenize


@dataclass(frozen=True)
class Node:
    offset: int


@dataclass(frozen=True)
class Literal(Node):
    kind: str  # int, uint, double, string, bytes, bool, null
    value: Any


@dataclass(frozen=True)
class Ident(Node):
    name: str


@dataclass(frozen=True)
class Select(Node):
    operand: Node
    field: str


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]
    target: Node | None = None  # the receiver of a method call: target.function(args)


@dataclass(frozen=True)
class Index(Node):
    operand: Node
    index: Node


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class MapExpr(Node):
    entries: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Conditional(Node):
    condition: Node
    then: Node
    otherwise: Node


_RELATIONS = {"<", "<=", ">", ">=", "==", "!="}


class Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.pos = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def _at(self, text: str) -> bool:
        return self.token.kind == "punct" and self.token.text == text

    def _take(self, text: str) -> Token:
        if not self._at(text):
            found = self.token.text or "the end of the expression"
            raise CelSyntaxError(f"expected '{text}', found {found!r}", self.token.offset)
        token = self.token
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.token.kind != "eof":
            raise CelSyntaxError(f"unexpected {self.token.text!r}", self.token.offset)
        return node

    def expr(self) -> Node:
        node = self._or()
        if self._at("?"):
            offset = self._take("?").offset
            then = self._or()
            self._take(":")
            return Conditional(offset, node, then, self.expr())
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._at("||"):
            offset = self._take("||").offset
            node = Binary(offset, "||", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._relation()
        while self._at("&&"):
            offset = self._take("&&").offset
            node = Binary(offset, "&&", node, self._relation())
        return node

    def _relation(self) -> Node:
        node = self._addition()
        while (self.token.kind == "punct" and self.token.text in _RELATIONS) or (
            self.token.kind == "ident" and self.token.text == "in"
        ):
            op = self.token
            self.pos += 1
            node = Binary(op.offset, op.text, node, self._addition())
        return node

    def _addition(self) -> Node:
        node = self._multiplication()
        while self._at("+") or self._at("-"):
            op = self.token
            self.pos += 1
            node = Binary(op.offset, op.text, node, self._multiplication())
        return node

    def _multiplication(self) -> Node:
        node = self._unary()
        while self._at("*") or self._at("/") or self._at("%"):
            op = self.token
            self.pos += 1
            node = Binary(op.offset, op.text, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._at("!") or self._at("-"):
            op = self.token
            self.pos += 1
            return Unary(op.offset, op.text, self._unary())
        return self._member()

    def _member(self) -> Node:
        node = self._primary()
        while True:
            if self._at("."):
                dot = self._take(".")
                if self._at("?"):
                    raise CelSyntaxError("optional selection '.?' is not supported", dot.offset)
                name = self._ident()
                if self._at("("):
                    self._take("(")
                    node = Call(name.offset, name.text, self._args(")"), target=node)
                else:
                    node = Select(name.offset, node, name.text)
            elif self._at("["):
                offset = self._take("[").offset
                index = self.expr()
                self._take("]")
                node = Index(offset, node, index)
            elif self._at("{"):
                raise CelSyntaxError("message construction is not supported", self.token.offset)
            else:
                return node

    def _ident(self) -> Token:
        token = self.token
        if token.kind != "ident":
            raise CelSyntaxError(f"expected a name, found {token.text or 'the end'!r}", token.offset)
        self.pos += 1
        return token

    def _args(self, close: str) -> tuple[Node, ...]:
        args: list[Node] = []
        while not self._at(close):
            args.append(self.expr())
            if not self._at(close):
                self._take(",")
        self._take(close)
        return tuple(args)

    def _primary(self) -> Node:
        token = self.token
        if token.kind in ("int", "uint", "double", "string", "bytes"):
            self.pos += 1
            return Literal(token.offset, token.kind, token.value)
        if token.kind == "ident":
            self.pos += 1
            if token.text in ("true", "false"):
                return Literal(token.offset, "bool", token.text == "true")
            if token.text == "null":
                return Literal(token.offset, "null", None)
            if self._at("("):
                self._take("(")
                return Call(token.offset, token.text, self._args(")"))
            return Ident(token.offset, token.text)
        if self._at("("):
            self._take("(")
            node = self.expr()
            self._take(")")
            return node
        if self._at("["):
            offset = self._take("[").offset
            items: list[Node] = []
            while not self._at("]"):
                items.append(self.expr())
                if not self._at("]"):
                    self._take(",")
            self._take("]")
            return ListExpr(offset, tuple(items))
        if self._at("{"):
            offset = self._take("{").offset
            entries: list[tuple[Node, Node]] = []
            while not self._at("}"):
                key = self.expr()
                self._take(":")
                entries.append((key, self.expr()))
                if not self._at("}"):
                    self._take(",")
            self._take("}")
            return MapExpr(offset, tuple(entries))
        if self._at("."):
            raise CelSyntaxError("leading-dot names are not supported", token.offset)
        raise CelSyntaxError(f"unexpected {token.text or 'end of the expression'!r}", token.offset)


def parse(source: str) -> Node:
    return Parser(source).parse()


def line_column(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset, as CEL's own errors count them."""
    before = source[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1
