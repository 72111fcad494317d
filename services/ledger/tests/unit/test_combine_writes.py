"""A6R-47: a batch's writes go to PostgreSQL as one statement (`combine_writes`)."""

import pytest

from ledger.adapters.repository import _native, combine_writes


def test_a6r47_writes_become_expressions_of_one_with_and_their_parameters_are_renamed_apart() -> None:
    sql, params = combine_writes(
        [
            (_native("INSERT INTO transactions SELECT * FROM json_to_recordset(:rows)"), {"rows": "[1]"}),
            (_native("INSERT INTO journal SELECT * FROM json_to_recordset(:rows)"), {"rows": "[2]"}),
        ]
    )
    assert sql == (
        "WITH w0 AS (INSERT INTO transactions SELECT * FROM json_to_recordset(%(s0_rows)s)), "
        "w1 AS (INSERT INTO journal SELECT * FROM json_to_recordset(%(s1_rows)s)) SELECT true"
    )
    assert params == {"s0_rows": "[1]", "s1_rows": "[2]"}


def test_a6r47_a_statements_own_expressions_join_the_with_and_its_select_ends_it() -> None:
    """The moves statement checks its outcome in its final SELECT; the outbox insert has its locks.
    Parentheses and commas inside string literals do not end an expression."""
    moves = _native(
        "WITH gone AS (DELETE FROM holdings WHERE block_id = ANY(:r) RETURNING block_id), "
        "new AS (SELECT ')(,' AS odd) "
        "SELECT moves_agree((SELECT count(*) FROM gone) = :n, 'not live (here), or there')"
    )
    outbox = _native("WITH locks AS (SELECT 1) INSERT INTO outbox SELECT :k WHERE (SELECT count(*) FROM locks) > 0")
    sql, params = combine_writes([(outbox, {"k": "key"}), (moves, {"r": [1, 2], "n": 2})])
    assert sql == (
        "WITH locks AS (SELECT 1), "
        "w0 AS (INSERT INTO outbox SELECT %(s0_k)s WHERE (SELECT count(*) FROM locks) > 0), "
        "gone AS (DELETE FROM holdings WHERE block_id = ANY(%(s1_r)s) RETURNING block_id), "
        "new AS (SELECT ')(,' AS odd) "
        "SELECT moves_agree((SELECT count(*) FROM gone) = %(s1_n)s, 'not live (here), or there')"
    )
    assert params == {"s0_k": "key", "s1_r": [1, 2], "s1_n": 2}


@pytest.mark.parametrize(
    ("statements", "refusal"),
    [
        (["WITH a AS (SELECT 1) SELECT 2", "WITH b AS (SELECT 1) SELECT 3"], "only one"),
        (["WITH a AS (SELECT 1) INSERT INTO t SELECT 1", "WITH a AS (SELECT 2) INSERT INTO u SELECT 1"], "twice"),
        (["WITH a AS (SELECT (1)"], "without its statement"),
    ],
)
def test_a6r47_statements_that_cannot_be_one_are_refused(statements: list[str], refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        combine_writes([(s, {}) for s in statements])
