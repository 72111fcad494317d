"""Rules are refused when saved if their CEL is invalid, names unknown fields or mixes types (A6R-38)."""

from __future__ import annotations

import pytest

from rules.domain.cel_syntax import CelSyntaxError, line_column, parse
from rules.domain.cel_types import BOOL, STRING
from rules.domain.context import environment
from rules.domain.expressions import ExpressionRefused, check_expression

ENV = environment("business", {"max_quantity": "int", "account": "string", "share": "decimal", "codes": "list_string"})
COMPLIANCE_ENV = environment("compliance", {"before": "int"})


@pytest.mark.parametrize(
    "expression",
    [
        'proposal.kind == "transfer" && proposal.quantity > params.max_quantity',
        "proposal.units.exists(u, u.vintage < 2021 || u.sectors.exists(s, s.startsWith('energy')))",
        'proposal.kind in ["transfer", "external_transfer_out"]',
        "proposal.destination.cooperative_approach != binding.target",
        "proposal.units.map(u, u.quantity).size() > 1 && size(proposal.vintages) >= 1",
        "proposal.units.filter(u, u.vintage < 2021).all(u, u.quantity < 10)",
        "now > timestamp('2021-01-01T00:00:00Z') && proposal.proposed_at.getFullYear() >= 2021",
        "has(proposal.source.section) ? proposal.source.section == 'GHA' : false",
        "proposal.units[0].vintage >= 2021 && -proposal.quantity < 0 && !proposal.source.present",
        "double(proposal.quantity) * 0.05 > 1.0 && int(params.share) >= 0",
        "proposal.initiator_grants.exists(g, g.role == 'account_initiator') || proposal.source.type in params.codes",
        "proposal.descriptors.all(d, d.authorized && d.dedication == 'ndc')",
        "// comments are allowed\nproposal.quantity > 1",
        "proposal.quantity > 1.5",  # CEL compares across numeric types
    ],
)
def test_a6r38_valid_expressions_are_accepted(expression: str) -> None:
    check_expression(expression, ENV, BOOL)


@pytest.mark.parametrize(
    ("expression", "code", "line", "column"),
    [
        ("proposal.quantity >", "cel_syntax_error", 1, 20),
        ("proposal.kind == 'transfer' &&& true", "cel_syntax_error", 1, 31),
        ("proposal.units.exists(u, u.vintag < 2021)", "unknown_field", 1, 28),
        ("proposal.source.sectionx == 'GHA'", "unknown_field", 1, 17),
        ("transaction.quantity > 5", "unknown_identifier", 1, 1),
        ("proposal.quantity > '5'", "type_error", 1, 19),
        ("proposal.kind == 'issuance' || proposal.quantity + 1.5 > 3", "type_error", 1, 50),
        ("proposal.quantity > 1 &&\n  proposal.kind == 5", "type_error", 2, 17),
        ("lowerAscii(proposal.kind) == 'x'", "unknown_function", 1, 1),
        ("proposal.quantity", "wrong_result_type", 1, 1),
        ("params.missing == 1", "unknown_field", 1, 8),
        ("proposal.units.exists(u, u.quantity)", "type_error", 1, 28),
        ("timestamp('not a time') < now", "cel_evaluation_error", 1, 1),
        ("proposal.source{a: 1}", "cel_syntax_error", 1, 16),
    ],
)
def test_a6r38_invalid_expressions_are_refused_with_their_position(
    expression: str, code: str, line: int, column: int
) -> None:
    with pytest.raises(ExpressionRefused) as refused:
        check_expression(expression, ENV, BOOL)
    assert (refused.value.code, refused.value.line, refused.value.column) == (code, line, column), refused.value.message
    assert f"line {line}, column {column}" in refused.value.message or (line, column) == (1, 1)


def test_a6r38_an_account_expression_must_give_a_string() -> None:
    check_expression("params.account", ENV, STRING)
    with pytest.raises(ExpressionRefused, match="gives an int, not a string"):
        check_expression("proposal.quantity", ENV, STRING)


def test_a6r19_compliance_expressions_see_the_holding_not_the_proposal() -> None:
    check_expression("holding.account.section == 'GHA' && holding.vintage < params.before", COMPLIANCE_ENV, BOOL)
    with pytest.raises(ExpressionRefused) as refused:
        check_expression("proposal.quantity > 1", COMPLIANCE_ENV, BOOL)
    assert refused.value.code == "unknown_identifier"


def test_data_dependent_failures_are_left_to_evaluation() -> None:
    """A division by zero or an index past the end depends on the proposal, not on the rule."""
    check_expression("proposal.quantity / (proposal.quantity - 1) > 0", ENV, BOOL)
    check_expression("proposal.units[3].vintage > 2020", ENV, BOOL)


def test_parser_positions_and_literals() -> None:
    assert line_column("ab\ncd", 4) == (2, 2)
    tree = parse('r\'a\\b\' + """x""" == b\'y\'.string() || 0x1F == 31u || 1e3 > .5')
    assert tree is not None
    with pytest.raises(CelSyntaxError):
        parse("a.?b")
