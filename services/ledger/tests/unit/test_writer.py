"""The single writer's answers to its waiters (A6R-47)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.service_layer.context import Proposal
from ledger.service_layer.writer import (
    DECISIONS_KEPT,
    IdempotencyConflict,
    LedgerWriter,
    Outcome,
    _Pending,
    _RefusedAfterWrite,
)
from registry_contracts.verdicts import (
    DEV_VERDICT_SEED,
    proposal_digest,
    sign_verdict,
    verdict_key,
    verdict_public_key,
    verdict_signer,
)
from registry_platform.auth import Principal
from registry_platform.errors import RegistryError


async def test_a6r47_a_waiter_cancelled_before_its_refusal_does_not_stop_the_writer() -> None:
    """A client that went away (its waiter cancelled) while its batch ran gets no answer; the
    others of the batch still get theirs, and the writer loop carries on."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]

    async def apply(proposals: list[Any], **_: Any) -> list[Any]:
        return [IdempotencyConflict("transaction id reused") for _ in proposals]

    writer.apply = apply  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    gone, waiting = loop.create_future(), loop.create_future()
    gone.cancel()
    await writer._process([_Pending(None, gone), _Pending(None, waiting)])  # type: ignore[arg-type]
    assert gone.cancelled()
    assert isinstance(waiting.exception(), IdempotencyConflict)


async def test_a6r47_waiters_are_answered_when_the_state_cannot_be_reloaded_after_a_failed_batch() -> None:
    """The database went away mid-batch: the writer cannot reload its state and stops (to be
    restarted), but first answers every waiter; none is left waiting for ever."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]

    async def apply(proposals: list[Any], **_: Any) -> list[Any]:
        raise ConnectionError("the database went away")

    async def load() -> None:
        raise ConnectionError("the database is still away")

    writer.apply = apply  # type: ignore[method-assign]
    writer.load = load  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    waiters = [loop.create_future() for _ in range(3)]
    with pytest.raises(ConnectionError):
        await writer._process([_Pending(None, w) for w in waiters])  # type: ignore[arg-type]
    assert all(isinstance(w.exception(), ConnectionError) for w in waiters)


async def test_a6r47_a_batch_run_again_after_a_late_refusal_sees_the_reservations_it_started_with() -> None:
    """A refusal after a write runs the batch again with savepoints. What the first run reserved
    for proposals later in the batch is undone, and what it released is held again, as the
    writer's other state is; otherwise a proposal run again would select around a reservation
    that does not exist, and could be refused units it may take."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]
    held, stale, decided = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
    writer.reservations.hold(held, (("scope", 1, 10),), None)
    writer.reservations.hold(decided, (("scope", 11, 20),), None)
    seen: list[dict[uuid.UUID, Any]] = []

    class Conn:
        @contextlib.asynccontextmanager
        async def begin(self) -> AsyncIterator[None]:
            yield

    async def get() -> Conn:
        return Conn()

    async def decide_all(_: Any, proposals: list[Any], *, savepoints: bool, **__: Any) -> list[Any]:
        seen.append(dict(writer.reservations.moved))
        if not savepoints:
            writer.reservations.release(decided)
            writer.reservations.hold(stale, (("scope", 21, 30),), None)
            raise _RefusedAfterWrite
        return []

    writer._conn.get = get  # type: ignore[method-assign]
    writer._decide_all = decide_all  # type: ignore[method-assign]
    assert await writer.apply([]) == []
    assert seen[1] == seen[0] == {held: (("scope", 1, 10),), decided: (("scope", 11, 20),)}


async def test_a6r47_a6r48_a_verdict_after_the_deadline_is_the_deadlines_denial_which_keeps_it() -> None:
    """The client's 202 named a deadline: a verdict that comes later (the overdue check runs about
    once a second, and races the verdict feed after a restart) must not record the transaction. The
    denial keeps the verdict that came late, unapplied (A6R-48 f); one with none says so."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    writer = LedgerWriter(None, topic=str, signer=None, clock=lambda: now, verdict_deadline=30.0)  # type: ignore[arg-type]
    submitted: list[dict[str, Any]] = []

    async def submit(proposal: Any) -> Any:
        submitted.append(proposal.verdict)
        return None

    writer.submit = submit  # type: ignore[method-assign]
    accept = {"outcome": "accept", "rules": [], "denials": [], "broken_rules": [], "supplementary_operations": []}
    in_time, late, none = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
    principal = Principal("service:rules")
    for tx, deadline, verdict in (
        (in_time, now + timedelta(seconds=1), accept),
        (late, now - timedelta(seconds=1), accept),
        (none, now - timedelta(seconds=1), None),
    ):
        proposal = Proposal(tx, None, principal, datetime.min)  # type: ignore[arg-type]
        writer._proposed[tx] = (proposal, now - timedelta(seconds=29), deadline, None)
        await writer.decide(tx, verdict)
    assert submitted[0] == accept
    assert submitted[1]["outcome"] == "deny" and submitted[1]["denials"][0]["code"] == "no_verdict"
    assert submitted[1]["late_verdict"] == accept and "came after" in submitted[1]["denials"][0]["message"]
    assert submitted[2]["outcome"] == "deny" and "late_verdict" not in submitted[2]
    assert "gave no verdict within 30 s" in submitted[2]["denials"][0]["message"]
    # When it was proposed, as the rules service's verdicts say (A6R-48 a).
    assert submitted[2]["proposed_at"] == (now - timedelta(seconds=29)).isoformat() == submitted[1]["proposed_at"]


async def test_a6r47_the_one_by_one_retry_raises_an_idempotency_conflict_and_answers_decision_waiters() -> None:
    """After a failed batch each proposal is applied alone. A reused transaction id is raised to
    its client (returned as an answer, the API read it as an outcome: a 500, not 409), a decided
    proposal answers whoever waits for its decision, and the outbox relay is woken."""
    woken: list[int] = []
    writer = LedgerWriter(None, topic=str, signer=None, on_commit=lambda: woken.append(1))  # type: ignore[arg-type]
    decided = uuid.UUID(int=7)
    outcome = Outcome(decided, "recorded", {}, 1, datetime(2026, 3, 1, tzinfo=UTC))
    calls: list[int] = []

    async def apply(proposals: list[Any], **_: Any) -> list[Any]:
        calls.append(len(proposals))
        if len(proposals) > 1:
            raise ConnectionError("the kept connection dropped")
        return [answers[proposals[0].transaction_id]]

    async def load() -> None:
        return None

    writer.apply = apply  # type: ignore[method-assign]
    writer.load = load  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    reused, recorded, decision = loop.create_future(), loop.create_future(), loop.create_future()
    writer._decisions[decided] = decision
    conflict = IdempotencyConflict("transaction id reused")
    reusing = Proposal(uuid.UUID(int=8), None, Principal("alice"), datetime.min)  # type: ignore[arg-type]
    deciding = Proposal(decided, None, Principal("alice"), datetime.min, verdict={"outcome": "accept"})  # type: ignore[arg-type]
    answers: dict[uuid.UUID, Any] = {reusing.transaction_id: conflict, decided: outcome}
    await writer._process([_Pending(reusing, reused), _Pending(deciding, recorded)])
    assert calls == [2, 1, 1]
    assert isinstance(reused.exception(), IdempotencyConflict)
    assert recorded.result() is outcome and decision.result() is outcome
    assert woken == [1, 1]


async def test_a6r47_a_writer_that_stops_refuses_new_proposals_and_answers_the_queued_ones() -> None:
    """run() ended (a failure the supervisor restarts it after, waiting for the leader lock while
    another instance leads): nothing takes from the queue, so the queued proposals are answered
    503 and new ones are refused at once, instead of waiting for ever; /ready shows it."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]

    async def acquire_leadership() -> None:
        return None

    async def load() -> None:
        writer._queue.put_nowait(_Pending(None, queued))  # type: ignore[arg-type]

    async def close() -> None:
        return None

    queued: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    writer.acquire_leadership = acquire_leadership  # type: ignore[method-assign]
    writer.load = load  # type: ignore[method-assign]
    writer._max_batch = 1
    writer.close = close  # type: ignore[method-assign]
    writer._queue.put_nowait(_Pending(None, asyncio.get_running_loop().create_future()))  # type: ignore[arg-type]

    async def process(batch: list[_Pending]) -> None:
        raise ConnectionError("the batch failed and so did the reload")

    writer._process = process  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await writer.run(asyncio.Event())
    assert not writer.ready.is_set()
    error = queued.exception()
    assert isinstance(error, RegistryError) and (error.status, error.code) == (503, "ledger_starting")
    with pytest.raises(RegistryError) as refused:
        await writer.submit(None)  # type: ignore[arg-type]
    assert refused.value.status == 503


async def test_a6r47_a_wait_that_begins_after_the_decision_gets_it_and_leaves_no_waiter() -> None:
    """A client's repeat answered "proposed" in the batch that also decided the transaction begins
    its wait after the decision was given out: it gets the decision at once, not a 202 after the
    whole wait, and leaves no waiter behind that nothing would ever answer."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    at = datetime(2026, 3, 1, tzinfo=UTC)

    def answered(n: int, verdict: dict[str, Any] | None) -> Outcome:
        outcome = Outcome(uuid.UUID(int=n), "recorded", {}, n, at)
        proposal = Proposal(outcome.transaction_id, None, Principal("alice"), at, verdict=verdict)  # type: ignore[arg-type]
        writer._answer(_Pending(proposal, loop.create_future()), outcome)
        return outcome

    decided = answered(5, {"outcome": "accept"})
    assert await writer.wait_decision(decided.transaction_id, 5.0) == decided
    assert writer._decisions == {}
    # Only decisions on proposals are kept, and only the latest.
    plain = answered(6, None)
    assert await writer.wait_decision(plain.transaction_id, 0.01) is None
    for n in range(DECISIONS_KEPT):
        answered(100 + n, {"outcome": "deny"})
    assert await writer.wait_decision(decided.transaction_id, 0.01) is None
    assert len(writer._decided) == DECISIONS_KEPT
    # A wait that timed out leaves no waiter behind.
    assert writer._decisions == {}


async def test_a6r47_a_repeat_still_waiting_gets_the_decision_after_another_wait_timed_out() -> None:
    """Two clients wait on one transaction (a PUT and its repeat): the first gives up, the second
    still gets the decision, and nothing is left behind."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    tx = uuid.UUID(int=9)
    patient = asyncio.create_task(writer.wait_decision(tx, 5.0))
    assert await writer.wait_decision(tx, 0.01) is None
    outcome = Outcome(tx, "recorded", {}, 1, datetime(2026, 3, 1, tzinfo=UTC))
    proposal = Proposal(tx, None, Principal("alice"), datetime.min, verdict={"outcome": "accept"})  # type: ignore[arg-type]
    writer._answer(_Pending(proposal, loop.create_future()), outcome)
    assert await patient == outcome
    assert writer._decisions == {} and writer._waiting == {}


async def test_a6r38_a_refused_verdict_leaves_the_proposal_waiting_and_the_genuine_one_decides() -> None:
    """A verdict not signed with the rules service's verdict key for the proposal published is
    dropped and leaves the proposal as it was; the genuine verdict then decides it."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    key = verdict_public_key(verdict_key(DEV_VERDICT_SEED))
    writer = LedgerWriter(None, topic=str, signer=None, clock=lambda: now, verdict_key=key)  # type: ignore[arg-type]
    submitted: list[dict[str, Any]] = []

    async def submit(proposal: Any) -> Any:
        submitted.append(proposal.verdict)
        return None

    writer.submit = submit  # type: ignore[method-assign]
    tx = uuid.UUID(int=10)
    published = {"transaction_id": str(tx), "quantity": 5}
    known = (Proposal(tx, None, Principal("alice"), datetime.min), now, now + timedelta(seconds=30))  # type: ignore[arg-type]
    writer._proposed[tx] = (*known, proposal_digest(published))
    accept = {"transaction_id": str(tx), "outcome": "accept", "rules": [], "supplementary_operations": []}
    for forged in (
        accept,
        sign_verdict(accept, published, verdict_signer("another seed")),
        sign_verdict(accept, {**published, "quantity": 6}, verdict_signer(DEV_VERDICT_SEED)),
    ):
        assert await writer.decide(tx, forged) is None
    assert submitted == [] and tx in writer._proposed
    genuine = sign_verdict(accept, published, verdict_signer(DEV_VERDICT_SEED))
    await writer.decide(tx, genuine)
    assert submitted == [genuine] and tx not in writer._proposed
