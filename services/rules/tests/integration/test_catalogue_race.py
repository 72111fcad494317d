"""A change to the catalogue committed while a proposal is being evaluated (A6R-38, A6R-39): the
verdict must name what the catalogue, once committed, says was in force at the proposal's instant,
so that re-evaluating the proposal at that instant agrees (domain.catalogue, the invariant)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry_platform import db
from registry_platform.auth import REGISTRY_ADMINISTRATOR, Grant, Principal
from rules import samples
from rules.service_layer import configuration
from rules.service_layer.commands import BindingIn, VersionIn
from rules.service_layer.service import RulesService

from .conftest import CAP, Bus, RulesClient, add_rule, bind

pytestmark = pytest.mark.integration
ADMIN = Principal(subject="ra-2", grants=(Grant(REGISTRY_ADMINISTRATOR),))
Change = Callable[[RulesService, AsyncConnection], Awaitable[Any]]


async def _new_version(service: RulesService, conn: AsyncConnection) -> Any:
    # Its effective_from defaults to the change's instant.
    spec = VersionIn.model_validate({**CAP, "effect": {**CAP["effect"], "code": "cap_v2"}})
    return await configuration.add_version(service, conn, rule="cap", spec=spec, caller=ADMIN)


async def _suspension(service: RulesService, conn: AsyncConnection) -> Any:
    return await configuration.set_suspension(
        service, conn, target_type="rule", target="cap", suspended=True, reason="cap set too low", caller=ADMIN
    )


async def _binding(service: RulesService, conn: AsyncConnection) -> Any:
    spec = BindingIn(rule="stop", target_type="registry", target="*")
    return await configuration.add_binding(service, conn, spec=spec, caller=ADMIN)


async def _evaluated_or_waiting(engine: AsyncEngine, transaction_id: str) -> str:
    """Whether the proposal's evaluation was stored, or is waiting for the open change."""
    deadline = time.monotonic() + 20
    async with engine.connect() as conn:
        while time.monotonic() < deadline:
            if await conn.scalar(
                text("SELECT count(*) FROM evaluations WHERE transaction_id = :t"), {"t": transaction_id}
            ):
                return "evaluated"
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            if waiting:
                return "waiting"
            await conn.rollback()  # a fresh snapshot for the next look
            await asyncio.sleep(0.05)
    raise AssertionError("the proposal was neither evaluated nor waiting for the configuration change")


@pytest.mark.parametrize("change", [_new_version, _suspension, _binding], ids=["version", "suspension", "binding"])
async def test_a6r39_a_change_committed_during_an_evaluation_never_takes_effect_before_it(
    rules: RulesClient, bus: Bus, database_url: str, change: Change
) -> None:
    """A6R-39: another instance adds a version (effective_from defaulted), suspends the rule, or
    binds another rule, and before it commits the saga consumer is handed a proposal made at the
    change's instant. The verdict must agree with the committed catalogue at that instant: before
    the fix the consumer decided with the old catalogue while the change's records said the new one
    was in force then."""
    await add_rule(rules, "cap", **CAP)
    await bind(rules, "cap", max_quantity=10)
    await add_rule(rules, "stop", expression="true", effect={"type": "deny", "code": "stopped", "message": "Stop."})
    warm_up = samples.proposal(proposed_at=rules.clock.now)
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", warm_up["transaction_id"], warm_up)
    await bus.wait_for(lambda e: e.type == "rules.VerdictGiven" and e.key == warm_up["transaction_id"])
    rules.clock.advance(timedelta(minutes=1))

    # Another instance of the service, on its own connections to the same database.
    engine = db.create_engine(database_url, "rules")
    other = RulesService(clock=rules.clock)
    other.bind(engine, lambda name: f"{rules.prefix}.{name}", lambda: None)
    proposal = samples.proposal(proposed_at=rules.clock.now)
    try:
        async with engine.begin() as conn:
            await change(other, conn)
            await bus.publish("ledger.proposals", "rules.ProposalSubmitted", proposal["transaction_id"], proposal)
            # Without the fix it is evaluated now, against the catalogue without the change.
            state = await _evaluated_or_waiting(engine, proposal["transaction_id"])
        verdict = await bus.wait_for(lambda e: e.type == "rules.VerdictGiven" and e.key == proposal["transaction_id"])
    finally:
        await engine.dispose()
    # Re-evaluated at the same instant, with the change committed.
    again = await rules.preview(proposal)
    decided = {k: verdict.payload[k] for k in ("outcome", "rules", "denials")}
    assert decided == {k: again[k] for k in ("outcome", "rules", "denials")}, state
    assert state == "waiting"
