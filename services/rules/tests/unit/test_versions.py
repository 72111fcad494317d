"""Rule versions: which one applies at an instant, and what a version must satisfy to be saved (A6R-39)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.domain.catalogue import Deny, ParamSpec, RuleVersion, ShareOperation, Supplementary, Violation
from rules.domain.catalogue import version_in_force as in_force
from rules.domain.validation import RuleRefused, binding_params, validate_version

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def version(number: int, start: datetime, retire: datetime | None = None, **kw: object) -> RuleVersion:
    defaults: dict[str, object] = {"kind": "business", "effect": Deny("no"), "expression": "proposal.quantity > 10"}
    return RuleVersion("cap", number, effective_from=start, retire_at=retire, **{**defaults, **kw})  # type: ignore[arg-type]


def test_a6r39_a_retired_version_applies_before_its_retire_at_and_not_from_it() -> None:
    v1 = version(1, T0, retire=T0 + 2 * HOUR)
    assert in_force([v1], T0 - HOUR) is None
    assert in_force([v1], T0) == v1
    assert in_force([v1], T0 + 2 * HOUR - timedelta(microseconds=1)) == v1
    assert in_force([v1], T0 + 2 * HOUR) is None


def test_a6r39_a_newer_version_takes_over_at_its_effective_from() -> None:
    v1 = version(1, T0, retire=T0 + 3 * HOUR)
    v2 = version(2, T0 + HOUR)
    assert in_force([v1, v2], T0 + HOUR / 2) == v1
    assert in_force([v1, v2], T0 + HOUR) == v2
    v3 = version(3, T0 + 2 * HOUR, retire=T0 + 4 * HOUR)
    assert in_force([v1, v2, v3], T0 + 5 * HOUR) == v2  # v3 retired: the rule falls back to v2


def test_a6r39_dates_are_checked_when_saved() -> None:
    with pytest.raises(RuleRefused) as past:
        validate_version(version(1, T0 - HOUR), plugins={}, now=T0)
    assert past.value.code == "effective_from_in_past"
    with pytest.raises(RuleRefused) as backwards:
        validate_version(version(1, T0, retire=T0), plugins={}, now=T0)
    assert backwards.value.code == "invalid_dates"
    validate_version(version(1, T0, retire=T0 + HOUR), plugins={}, now=T0)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"expression": "proposal.quantity >"}, "cel_syntax_error"),
        ({"expression": None}, "expression_or_plugin"),
        ({"expression": None, "plugin": "nope.v1"}, "unknown_plugin"),
        ({"kind": "compliance"}, "invalid_effect"),
        ({"effect": Violation("x")}, "invalid_effect"),
        ({"effect": Deny("no", code="Not Snake")}, "invalid_effect"),
        ({"params": {"Bad-Name": ParamSpec("int")}}, "invalid_param"),
        ({"params": {"n": ParamSpec("float")}}, "invalid_param"),
        ({"params": {"n": ParamSpec("int", default="5")}}, "invalid_param_value"),
    ],
)
def test_a6r38_invalid_versions_are_refused(changes: dict[str, object], code: str) -> None:
    with pytest.raises(RuleRefused) as refused:
        validate_version(version(1, T0, **changes), plugins={}, now=T0)
    assert refused.value.code == code, refused.value.message


def _share(**op: str) -> Supplementary:
    base = {
        "kind": "transfer",
        "take_from": "destination",
        "to_account": "params.to",
        "share": "0.05",
        "rounding": "floor",
        "reason": "fee",
    }
    return Supplementary((ShareOperation(**{**base, **op}),))


@pytest.mark.parametrize(
    ("effect", "field", "column"),
    [
        (_share(to_account="params.too"), "effect.operations[0].to_account", 8),
        (_share(to_account="proposal.quantity"), "effect.operations[0].to_account", 1),
    ],
)
def test_a6r38_supplementary_account_expressions_are_checked(effect: Supplementary, field: str, column: int) -> None:
    v = version(1, T0, effect=effect, params={"to": ParamSpec("string")})
    with pytest.raises(RuleRefused) as refused:
        validate_version(v, plugins={}, now=T0)
    assert refused.value.details["field"] == field
    assert refused.value.details["column"] == column


def test_a6r38_a_share_taken_from_the_source_is_refused_when_saved() -> None:
    """The ledger takes shares out of the units the transaction moved, which the destination then
    holds: `take_from: source` would reject every transaction the rule fires on, so saving refuses it."""
    v = version(1, T0, effect=_share(take_from="source"), params={"to": ParamSpec("string")})
    with pytest.raises(RuleRefused) as refused:
        validate_version(v, plugins={}, now=T0)
    assert refused.value.code == "take_from_source_unsupported" and refused.value.status == 422
    assert refused.value.details["field"] == "effect.operations[0].take_from"


@pytest.mark.parametrize("share", ["1.5", "0.6", "0", "five", "params.to", "params.nothing"])
def test_a6r38_shares_are_decimals_up_to_one_or_decimal_params(share: str) -> None:
    v = version(1, T0, effect=_share(share=share), params={"to": ParamSpec("string")})
    with pytest.raises(RuleRefused, match="share"):
        validate_version(v, plugins={}, now=T0)


def test_binding_params_are_checked_against_the_declarations() -> None:
    specs = {"cap": ParamSpec("int"), "share": ParamSpec("decimal", "0.05")}
    assert binding_params(specs, {"cap": 5}) == {"cap": 5, "share": "0.05"}
    for values, code in [
        ({}, "missing_param"),
        ({"cap": "5"}, "invalid_param_value"),
        ({"cap": 5, "x": 1}, "unknown_param"),
    ]:
        with pytest.raises(RuleRefused) as refused:
            binding_params(specs, values)
        assert refused.value.code == code
