"""What a rule version must satisfy to be saved, and what a binding's parameters must satisfy.

Everything that can be known before a proposal arrives is checked here, when the configuration
changes (A6R-38): expressions against the declared context, plugins against their entry points,
shares, parameter types and the version's dates. Refusals carry a machine-readable code and, for
expressions, the line and column of the problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rules.domain.catalogue import (
    KINDS,
    PARAM_NAME,
    RULE_NAME,
    Deny,
    ParamSpec,
    RuleVersion,
    Supplementary,
    Violation,
)
from rules.domain.cel_types import BOOL, STRING, synthetic
from rules.domain.context import PARAM_TYPES, PROPOSAL, environment
from rules.domain.expressions import ExpressionRefused, check_expression
from rules.domain.plugins import PluginOutcome, RulePlugin
from rules.domain.shares import MAX_SHARE, ROUNDINGS, decimal_text, parse_share

_CODE = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
MAX_OPERATIONS = 10
MAX_SAFE_INTEGER = 2**53 - 1


class RuleRefused(Exception):
    """A configuration change that cannot be made; `status` is the HTTP status to answer with."""

    def __init__(self, code: str, message: str, status: int = 422, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details


def _refuse_expression(exc: ExpressionRefused) -> RuleRefused:
    return RuleRefused(exc.code, exc.message, **exc.details())


def validate_version(v: RuleVersion, *, plugins: Mapping[str, RulePlugin], now: datetime) -> None:
    if not RULE_NAME.match(v.rule):
        raise RuleRefused("invalid_rule_name", f"{v.rule!r}: a rule name is 2-63 lowercase letters, digits or '-'")
    if v.kind not in KINDS:
        raise RuleRefused("invalid_kind", f"kind is one of {', '.join(KINDS)}, not {v.kind!r}")
    _check_effect_kind(v)
    _check_timing(v, now)
    for name, spec in v.params.items():
        _check_param_spec(name, spec)
    env = environment(v.kind, v.param_types())
    if (v.expression is None) == (v.plugin is None):
        raise RuleRefused("expression_or_plugin", "give either a CEL 'expression' or a 'plugin', exactly one")
    try:
        if v.expression is not None:
            check_expression(v.expression, env, BOOL)
        else:
            _check_plugin(v, plugins)
        if isinstance(v.effect, Supplementary):
            _check_operations(v, env)
    except ExpressionRefused as exc:
        raise _refuse_expression(exc) from exc


def _check_effect_kind(v: RuleVersion) -> None:
    if v.kind == "compliance" and not isinstance(v.effect, Violation):
        raise RuleRefused("invalid_effect", "a compliance rule's effect is a violation (A6R-19)")
    if v.kind == "business" and isinstance(v.effect, Violation):
        raise RuleRefused("invalid_effect", "a business rule's effect is deny or supplementary")
    if isinstance(v.effect, Deny | Violation) and not v.effect.message.strip():
        raise RuleRefused("invalid_effect", "give the message a person reads when the rule fires")
    if isinstance(v.effect, Deny) and not _CODE.match(v.effect.code):
        raise RuleRefused("invalid_effect", f"a denial code is snake_case, got {v.effect.code!r}")


def _check_timing(v: RuleVersion, now: datetime) -> None:
    if v.effective_from is None:
        raise RuleRefused("invalid_dates", "a version needs its effective_from instant")
    if v.effective_from < now:
        # Proposals already evaluated must keep the versions they were evaluated with (A6R-39):
        # `now` is read under the configuration lock (catalogue, the invariant).
        raise RuleRefused("effective_from_in_past", f"effective_from {v.effective_from.isoformat()} is in the past")
    if v.retire_at is not None and v.retire_at <= v.effective_from:
        raise RuleRefused("invalid_dates", "retire_at must come after effective_from")


def _check_param_spec(name: str, spec: ParamSpec) -> None:
    if not PARAM_NAME.match(name):
        raise RuleRefused("invalid_param", f"{name!r}: a parameter name is snake_case, up to 40 characters")
    if spec.type not in PARAM_TYPES:
        raise RuleRefused("invalid_param", f"parameter {name}: type is one of {', '.join(PARAM_TYPES)}")
    if spec.default is not None:
        check_param_value(name, spec.type, spec.default)


def _is_int(x: Any) -> bool:
    # The journal hashes values as canonical JSON (RFC 8785), which has no integers beyond 2**53 - 1.
    return isinstance(x, int) and not isinstance(x, bool) and abs(x) <= MAX_SAFE_INTEGER


def check_param_value(name: str, type_: str, value: Any) -> None:
    ok = {
        "string": lambda x: isinstance(x, str),
        "int": _is_int,
        "bool": lambda x: isinstance(x, bool),
        "decimal": lambda x: isinstance(x, str) and _is_share(x),
        "list_string": lambda x: isinstance(x, list) and all(isinstance(i, str) for i in x),
        "list_int": lambda x: isinstance(x, list) and all(_is_int(i) for i in x),
    }[type_](value)
    if not ok:
        hints = {
            "decimal": f' (a decimal text more than 0 and at most {decimal_text(MAX_SHARE)}, e.g. "0.05")',
            "int": f" (at most {MAX_SAFE_INTEGER:,} either side of 0)",
            "list_int": f" (of integers at most {MAX_SAFE_INTEGER:,} either side of 0)",
        }
        hint = hints.get(type_, "")
        raise RuleRefused("invalid_param_value", f"parameter {name} must be a {type_}{hint}, got {value!r}")


def _is_share(text: str) -> bool:
    try:
        parse_share(text)
    except ValueError:
        return False
    return True


def binding_params(specs: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """A binding's parameters checked against the version's declarations, defaults filled in."""
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise RuleRefused("unknown_param", f"the rule declares no parameter {', '.join(unknown)}", known=sorted(specs))
    merged: dict[str, Any] = {}
    for name, spec in specs.items():
        value = values.get(name, spec.default)
        if value is None:
            raise RuleRefused("missing_param", f"the binding must give parameter {name} ({spec.type})")
        check_param_value(name, spec.type, value)
        merged[name] = value
    return merged


def _check_plugin(v: RuleVersion, plugins: Mapping[str, RulePlugin]) -> None:
    assert v.plugin is not None
    plugin = plugins.get(v.plugin)
    if plugin is None:
        raise RuleRefused("unknown_plugin", f"no plugin {v.plugin!r} is installed (entry points: {sorted(plugins)})")
    if v.kind not in plugin.kinds:
        raise RuleRefused("invalid_plugin", f"plugin {v.plugin} does not serve {v.kind} rules")
    for name, type_ in plugin.params.items():
        if v.param_types().get(name) != type_:
            raise RuleRefused("invalid_plugin", f"plugin {v.plugin} reads parameter {name} ({type_}): declare it")
    params = {name: synthetic(PARAM_TYPES[spec.type]) for name, spec in v.params.items()}
    try:
        outcome = plugin.evaluate(synthetic(PROPOSAL), params)
    except Exception as exc:
        raise RuleRefused("plugin_error", f"plugin {v.plugin} failed on a trial proposal: {exc}") from exc
    if not isinstance(outcome, PluginOutcome):
        raise RuleRefused("plugin_error", f"plugin {v.plugin} must return a PluginOutcome")


def _check_operations(v: RuleVersion, env: Mapping[str, Any]) -> None:
    assert isinstance(v.effect, Supplementary)
    if not 1 <= len(v.effect.operations) <= MAX_OPERATIONS:
        raise RuleRefused("invalid_effect", f"give 1 to {MAX_OPERATIONS} supplementary operations")
    for i, op in enumerate(v.effect.operations):
        where = f"effect.operations[{i}]"
        if op.kind not in ("transfer", "cancellation") or op.take_from not in ("source", "destination"):
            raise RuleRefused(
                "invalid_effect", f"{where}: kind is transfer or cancellation, take_from source or destination"
            )
        if op.take_from == "source":
            # The ledger takes a share out of the units the transaction moved, which by then are
            # all in the destination: a share "from the source" could never be taken.
            raise RuleRefused(
                "take_from_source_unsupported",
                f"{where}.take_from: a share is taken from the destination, out of the units the transaction moved",
                field=f"{where}.take_from",
            )
        if op.rounding not in ROUNDINGS:
            raise RuleRefused("invalid_effect", f"{where}: rounding is one of {', '.join(ROUNDINGS)}")
        if not op.reason.strip():
            raise RuleRefused("invalid_effect", f"{where}: give the reason recorded with the operation")
        param = op.share_param()
        if param is not None:
            if v.param_types().get(param) != "decimal":
                raise RuleRefused("invalid_effect", f"{where}.share: declare {param} as a decimal parameter")
        elif not _is_share(op.share):
            raise RuleRefused(
                "invalid_effect",
                f"{where}.share: a decimal more than 0 and at most {decimal_text(MAX_SHARE)}, or params.<name>",
            )
        check_expression(op.to_account, env, STRING, field=f"{where}.to_account")
