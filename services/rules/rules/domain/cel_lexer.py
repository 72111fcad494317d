"""The tokenizer of the CEL parser (cel_syntax): identifiers, numbers, strings with CEL's prefixes
and escapes, and punctuation, each with its character offset."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class CelSyntaxError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Token:
    kind: str  # ident, int, uint, double, string, bytes, punct, eof
    text: str
    offset: int
    value: Any = field(default=None, compare=False)


_RESERVED = frozenset(
    "as break const continue else for function if import let loop package namespace return var void while".split()
)
# Longest first, so that "<=" is not read as "<" then "=".
_PUNCT = "== != <= >= && || < > ! + - * / % ? : . , ( ) [ ] { }".split()
_NUMBER = re.compile(
    r"(?P<double>(\d+\.\d+|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+)|(?P<hex>0[xX][0-9a-fA-F]+)(?P<hu>[uU])?"
    r"|(?P<int>\d+)(?P<u>[uU])?"
)
_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_STRING_START = re.compile(r"([rRbB]{0,2})('''|\"\"\"|'|\")")
_ESCAPES = dict(zip("ntr\\'\"`?abfv", "\n\t\r\\'\"`?\a\b\f\v", strict=True))


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        m = _STRING_START.match(source, i)
        if m:
            token, i = _string(source, i, m)
            tokens.append(token)
            continue
        m = _NUMBER.match(source, i)
        if m and (ch.isdigit() or (ch == "." and i + 1 < n and source[i + 1].isdigit())):
            text = m.group(0)
            if m.group("double"):
                tokens.append(Token("double", text, i, float(text)))
            elif m.group("hex"):
                tokens.append(Token("uint" if m.group("hu") else "int", text, i, int(m.group("hex"), 16)))
            else:
                tokens.append(Token("uint" if m.group("u") else "int", text, i, int(m.group("int"))))
            i = m.end()
            continue
        m = _IDENT.match(source, i)
        if m:
            word = m.group(0)
            if word in _RESERVED:
                raise CelSyntaxError(f"'{word}' is a reserved word", i)
            tokens.append(Token("ident", word, i))
            i = m.end()
            continue
        for p in _PUNCT:
            if source.startswith(p, i):
                tokens.append(Token("punct", p, i))
                i += len(p)
                break
        else:
            raise CelSyntaxError(f"unexpected character {ch!r}", i)
    tokens.append(Token("eof", "", n))
    return tokens


def _string(source: str, start: int, m: re.Match[str]) -> tuple[Token, int]:
    prefix, quote = m.group(1).lower(), m.group(2)
    raw, is_bytes = "r" in prefix, "b" in prefix
    i = m.end()
    out: list[str] = []
    while True:
        if i >= len(source) or (len(quote) == 1 and source[i] == "\n"):
            raise CelSyntaxError("unterminated string", start)
        if source.startswith(quote, i):
            i += len(quote)
            break
        if source[i] == "\\" and not raw:
            nxt = source[i + 1 : i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = source[i + 2 : i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise CelSyntaxError("malformed escape sequence", i)
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            raise CelSyntaxError("malformed escape sequence", i)
        out.append(source[i])
        i += 1
    return Token("bytes" if is_bytes else "string", source[start:i], start, "".join(out)), i
