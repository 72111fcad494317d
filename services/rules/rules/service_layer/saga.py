"""The rules side of the proposal-verdict saga with the ledger (A6R-47 step 2).

The ledger publishes rules.ProposalSubmitted to `ledger.proposals`; this service evaluates it and,
in the inbox transaction, stores the evaluation (proposal, verdict, rule versions: A6R-39) and
queues rules.VerdictGiven to `rules.verdicts`: both or neither. A proposal repeated under the same
transaction id with the same content gets the stored verdict again, so a ledger that lost its
answer (restarted, broker restarted) receives the same one.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from opentelemetry import metrics
from sqlalchemy.ext.asyncio import AsyncConnection

from registry_contracts.envelope import EventEnvelope
from registry_contracts.events.rules import ProposalSubmitted, VerdictGiven
from registry_contracts.verdicts import proposal_digest, sign_verdict
from registry_platform.outbox import add_events
from rules.adapters.readmodel import ReadModel
from rules.adapters.repository import Evaluation, Repository
from rules.domain.context import proposal_context
from rules.domain.evaluation import evaluate_proposal
from rules.service_layer.service import VERDICTS_TOPIC, RulesService

log = logging.getLogger(__name__)
EVALUATION_SECONDS = metrics.get_meter("registry").create_histogram(
    "registry_rules_evaluation",
    unit="s",
    description="Time to evaluate one proposal against the catalogue",
    explicit_bucket_boundaries_advisory=[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
)


async def evaluate(service: RulesService, conn: AsyncConnection, proposal: ProposalSubmitted) -> dict[str, Any]:
    """The verdict on `proposal` under the catalogue as it stood when the proposal was made, as a
    JSON rules.VerdictGiven payload."""
    snapshot = await service.snapshot(conn, proposal.proposed_at)
    started = time.perf_counter()
    verdict = evaluate_proposal(
        snapshot, proposal_context(proposal.model_dump()), at=proposal.proposed_at, evaluated_at=service.clock()
    )
    EVALUATION_SECONDS.record(time.perf_counter() - started)
    return VerdictGiven.model_validate(verdict).model_dump(mode="json")


async def on_proposals(service: RulesService, conn: AsyncConnection, envelopes: list[EventEnvelope]) -> None:
    """A run of proposals in one transaction: one read of earlier evaluations, one write of the
    accounts they describe, of the new evaluations and of the verdict events."""
    await service.ready()
    proposals = [(envelope, ProposalSubmitted.model_validate(envelope.payload)) for envelope in envelopes]
    repo = Repository(conn)
    earlier = await repo.latest_evaluations([p.transaction_id for _, p in proposals])
    # The descriptors first: the first evaluation holds configuration changes back until this
    # transaction ends (domain.catalogue, the invariant), so no call to another service after it.
    described_units = await _descriptors(service, proposals, earlier)
    described: list[tuple[dict[str, Any], datetime]] = []
    evaluations: list[Evaluation] = []
    events = []
    for i, (envelope, proposal) in enumerate(proposals):
        stored_proposal = proposal.model_dump(mode="json")
        previous = earlier.get(proposal.transaction_id)
        answered = proposal_digest(envelope.payload)
        if _answers(previous, answered):
            verdict = previous["verdict"]
        else:
            if i in described_units:
                proposal = proposal.model_copy(update={"descriptors": described_units[i]})
                stored_proposal = proposal.model_dump(mode="json")
            described += [(a.model_dump(), proposal.proposed_at) for a in (proposal.source, proposal.destination) if a]
            # Kept with the digest of the proposal as it came: only that proposal again gets it.
            verdict = {**await evaluate(service, conn, proposal), "proposal_digest": answered}
            evaluations.append(Evaluation(stored_proposal, verdict, envelope.event_id, service.clock()))
            # The same proposal again in this run gets this verdict, as it would from the table.
            earlier[proposal.transaction_id] = {"proposal": stored_proposal, "verdict": verdict}
        # Signed, and bound to the proposal as it came (registry_contracts.verdicts): the ledger
        # applies no verdict it cannot tell is this service's answer to the proposal it published.
        signed = sign_verdict(verdict, envelope.payload, service.verdict_signer)
        event = service.envelope("rules.VerdictGiven", proposal.transaction_id, signed, causation=envelope)
        events.append((service.topic(VERDICTS_TOPIC), event))
        log.info("verdict %s on %s (%s)", verdict["outcome"], proposal.transaction_id, proposal.kind)
    await ReadModel(conn).describe_accounts(described)
    await repo.add_evaluations(evaluations)
    await add_events(conn, events)


async def _descriptors(
    service: RulesService, proposals: list[tuple[EventEnvelope, ProposalSubmitted]], earlier: dict[str, Any]
) -> dict[int, list[Any]]:
    """The descriptors in force when each proposal (by position) was made, for those that come
    without and were not evaluated before: authorizations and first transfers (A6R-45)."""
    if service.descriptors is None:
        return {}
    found: dict[int, list[Any]] = {}
    # A proposal repeated in the run gets the verdict of its first copy (on_proposals): one look-up.
    judged = {tx: previous["verdict"].get("proposal_digest") for tx, previous in earlier.items()}
    for i, (envelope, proposal) in enumerate(proposals):
        answered = proposal_digest(envelope.payload)
        if proposal.descriptors or judged.get(proposal.transaction_id) == answered:
            continue
        found[i] = await service.descriptors.in_force(proposal.units, proposal.proposed_at)
        judged[proposal.transaction_id] = answered
    return found


def _answers(previous: dict[str, Any] | None, answered: str) -> bool:
    """Whether an earlier evaluation answers the proposal whose digest is `answered`: the very same
    proposal again (a redelivery). Anything else under that transaction id, even a copy that differs
    in the descriptors it carries, is evaluated anew: the signed verdict names what it judged."""
    return previous is not None and previous["verdict"].get("proposal_digest") == answered
