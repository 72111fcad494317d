"""CEL expressions of rules: refused when saved if they are invalid, compiled once, evaluated many times.

Saving an expression (A6R-38) runs, in order, and stops at the first problem, reporting its line
and column:

1. the CEL package's own parser (what will evaluate the expression must accept it);
2. this service's parser and type checker against the declared context (cel_check): unknown
   names, fields and functions, and operands of the wrong type, also in branches that a given
   input would never reach;
3. the declared result type (a condition must be a bool, an account number a string);
4. a trial evaluation against a synthetic context of the declared types.

Compiled programs are cached by source text, so every rule version compiles once per process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cel

from rules.domain import cel_syntax
from rules.domain.cel_check import CelTypeError, article, check
from rules.domain.cel_types import CelType, synthetic


class ExpressionRefused(Exception):
    """An expression that cannot be saved: `code` names the problem, line and column where it is."""

    def __init__(self, code: str, message: str, *, line: int = 1, column: int = 1, field: str = "expression") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"field": self.field, "line": self.line, "column": self.column}


_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")
_MAX_LENGTH = 4000


@lru_cache(maxsize=4096)
def program(source: str) -> cel.Program:
    """The compiled program of an expression already checked (compile once, evaluate many)."""
    return cel.compile(source)


@lru_cache(maxsize=4096)
def variables(source: str) -> frozenset[str]:
    """The names an expression reads: a value it does not read need not be converted for it."""
    return frozenset(program(source).variables())


def _cel_parse(source: str, field: str) -> None:
    try:
        program(source)
    except ValueError as exc:
        match = _CEL_POSITION.search(str(exc))
        if match is None:
            raise ExpressionRefused("cel_syntax_error", str(exc), field=field) from exc
        line, column, reason = int(match.group(1)), int(match.group(2)), match.group(3)
        raise ExpressionRefused(
            "cel_syntax_error",
            f"{field}: {reason.splitlines()[0]} (line {line}, column {column})",
            line=line,
            column=column,
            field=field,
        ) from exc


def check_expression(source: str, env: Mapping[str, CelType], result: CelType, *, field: str = "expression") -> None:
    """Refuse (ExpressionRefused) an expression that is not valid for `env` or not of type `result`."""
    if not source.strip():
        raise ExpressionRefused("cel_syntax_error", f"{field}: the expression is empty", field=field)
    if len(source) > _MAX_LENGTH:
        raise ExpressionRefused(
            "expression_too_long", f"{field}: keep expressions under {_MAX_LENGTH} characters", field=field
        )
    _cel_parse(source, field)
    try:
        tree = cel_syntax.parse(source)
        found = check(tree, env)
    except cel_syntax.CelSyntaxError as exc:
        line, column = cel_syntax.line_column(source, exc.offset)
        raise ExpressionRefused(
            "cel_syntax_error",
            f"{field}: {exc.message} (line {line}, column {column})",
            line=line,
            column=column,
            field=field,
        ) from exc
    except CelTypeError as exc:
        line, column = cel_syntax.line_column(source, exc.offset)
        raise ExpressionRefused(
            exc.code, f"{field}: {exc.message} (line {line}, column {column})", line=line, column=column, field=field
        ) from exc
    except RecursionError as exc:
        # The parser and checker recurse once per nesting level ("!!!...!true" is short but deep).
        raise ExpressionRefused(
            "expression_too_deep", f"{field}: the expression nests too deeply; simplify it", field=field
        ) from exc
    if found.kind not in (result.kind, "dyn"):
        raise ExpressionRefused(
            "wrong_result_type", f"{field}: the expression gives {article(found)}, not {article(result)}", field=field
        )
    _trial(source, env, result, field)


_RESULT_TYPES: dict[str, type | tuple[type, ...]] = {"bool": bool, "string": str, "int": int}


# Strings in the synthetic contexts: a conversion such as int(params.code) or
# timestamp(params.from) fails on some strings and not others, so a failure counts only when
# every variant fails.
_TRIAL_TEXTS = ("x", "1", "2000-01-01T00:00:00Z", "1s")


def _trial(source: str, env: Mapping[str, CelType], result: CelType, field: str) -> None:
    """Run the expression on synthetic values. Errors that depend on data (a division by zero,
    an index past the end, a text that does not convert) are the rule's business at evaluation
    time; an error on every variant (a missing overload, a malformed constant) is refused here."""
    failure: Exception | None = None
    for text in _TRIAL_TEXTS:
        context = {name: synthetic(t, text) for name, t in env.items()}
        try:
            value = program(source).execute(context)
        except (ZeroDivisionError, IndexError, OverflowError):
            return
        except Exception as exc:
            failure = failure or exc
            continue
        expected = _RESULT_TYPES.get(result.kind)
        if expected is not None and not isinstance(value, expected):
            raise ExpressionRefused(
                "wrong_result_type", f"{field}: the expression gives {value!r}, not {article(result)}", field=field
            )
        return
    raise ExpressionRefused("cel_evaluation_error", f"{field}: a trial evaluation failed: {failure}", field=field)
