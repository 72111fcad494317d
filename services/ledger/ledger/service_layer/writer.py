"""The ledger's single writer: every state change goes through here, in batches.

Why one writer: the journal is one hash chain, so its appends are serial anyway. Serializing
whole transactions in one task makes the chain head, the Merkle frontier and the id counters plain
memory, and lets one database commit carry a batch of transactions (group commit), which is what
keeps throughput up when many clients transfer at once (ARCHITECTURE.md §2, A6R-36).

Each proposal runs in its own savepoint: a rejected proposal rolls back to nothing and is then
recorded as rejected, with its full input and the rule that refused it (A6R-47). A batch is
acknowledged only after its commit, so a crash loses no acknowledged transaction and leaves no
partial one. Only one writer runs per database: it holds an advisory lock for its lifetime. Should
that lock be lost with its connection while another writer starts, the journal fences them: both
would append the same next sequence, the primary key admits one, and the other's batch fails and
reloads its state from the database before it decides anything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters.journal_source import checkpoints_in, tail_in
from ledger.adapters.repository import LEADER_LOCK, LeadershipLost, LedgerRepository, leading_sql
from ledger.domain.builtin_rules import enforce
from ledger.domain.errors import DomainError, RuleRefused
from ledger.domain.journal import (
    Checkpoint,
    JournalEntry,
    JournalHead,
    JournalKeys,
    MerkleFrontier,
    TailEntry,
    proposal_seal_message,
    seal,
    sign_checkpoint,
    unsealed_tail,
)
from ledger.domain.live_holdings import InvariantViolation, LiveHoldings, Piece
from ledger.domain.model import Role
from ledger.service_layer import configuration, saga, units
from ledger.service_layer.commands import Selection
from ledger.service_layer.context import (
    Catalogue,
    Counters,
    Event,
    IssuanceApproaches,
    Proposal,
    TxContext,
    principal_from_identity,
    scope_view,
)
from registry_contracts.canonical import canonical_json
from registry_contracts.chain import GENESIS_HASH, ChainCursor
from registry_contracts.nomenclatures import NomenclatureVersions
from registry_contracts.signing import KeyRing, PublicKey, SignatureInvalid, Signer
from registry_contracts.verdicts import check_verdict, proposal_digest
from registry_platform import db
from registry_platform.errors import RegistryError
from registry_platform.events import new_envelope
from registry_platform.outbox import ADD_EVENTS_SQL, add_events_params

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[..., Any]] = {
    "create_section": configuration.create_section,
    "create_cooperative_approach": configuration.create_cooperative_approach,
    "open_account": configuration.open_account,
    "apply_for_account": configuration.apply_for_account,
    "decide_application": configuration.decide_application,
    "change_account_status": configuration.change_account_status,
    "change_section_status": configuration.change_section_status,
    "issue_units": units.issue_units,
    "transfer_units": units.transfer_units,
    "corrective_transfer": units.corrective_transfer,
    "external_transfer_out": units.external_transfer_out,
    "external_transfer_in": units.external_transfer_in,
}
JOURNAL_TOPIC = "ledger.journal"
TRANSACTIONS_TOPIC = "ledger.transactions"
# How many of the latest decisions on proposals the writer keeps for clients who ask for one just
# after it: a batch's worth (a decision with a large result holds some hundred kilobytes).
DECISIONS_KEPT = 256


@dataclass(frozen=True)
class Outcome:
    transaction_id: uuid.UUID
    outcome: str  # recorded | rejected
    result: dict[str, Any]
    journal_sequence: int
    recorded_at: datetime
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        return {
            "transaction_id": str(self.transaction_id),
            "outcome": self.outcome,
            "journal_sequence": self.journal_sequence,
            "recorded_at": self.recorded_at.isoformat(),
            **self.result,
        }


class _RefusedAfterWrite(Exception):
    """A handler refused after writing: its batch must run again with savepoints."""


class IdempotencyConflict(Exception):
    """The client reused a transaction id for a different request."""


def not_writing() -> RegistryError:
    """The answer while no writer runs: starting, or restarting after a failure."""
    return RegistryError(
        503,
        "ledger_starting",
        "The ledger is starting; nothing was recorded for this request. Retry in a moment.",
        headers={"Retry-After": "1"},
    )


class JournalNotVouched(Exception):
    """The journal holds entries or a checkpoint this writer did not make: it writes nothing more
    until an operator has looked (`registry-ledger verify` names what is wrong)."""


def not_vouched() -> RegistryError:
    """The answer while the writer refuses a journal it cannot vouch for (see `LedgerWriter.load`)."""
    return RegistryError(
        503,
        "journal_not_vouched",
        "Nothing was recorded: the ledger stopped writing because its journal holds entries it did not "
        "write. The registry's operators must look into it before anything more is recorded.",
    )


def _client_answer(exc: Exception) -> Exception:
    """What a client whose proposal failed with `exc` is told: a writer no longer leading did not
    decide it (503, retry); one that stopped on a journal it cannot vouch for did not either (503,
    for operators to resolve); anything else is raised to it as it is."""
    if isinstance(exc, JournalNotVouched):
        return not_vouched()
    return not_writing() if isinstance(exc, LeadershipLost) else exc


class NomenclatureDowngrade(Exception):
    """The journal names a later nomenclature version than the latest at hand."""


async def refuse_nomenclature_downgrade(engine: AsyncEngine, nomenclatures: NomenclatureVersions) -> None:
    """Start only with the nomenclature the latest issuance was judged against, or a later one: an
    older one (a host without the directory of later versions, a build rolled back) would judge
    the same codes differently from one issuance to the next (A6R-57). Versions only go forward
    from there, so the latest issuance names the highest version recorded."""
    async with engine.connect() as conn:
        recorded = await LedgerRepository(conn).latest_nomenclature_version()
    if recorded is not None and recorded[1] > nomenclatures.latest.version:
        sequence, version = recorded
        raise NomenclatureDowngrade(
            f"journal entry {sequence} issued units judged against nomenclature version {version}, but the "
            f"latest at hand is version {nomenclatures.latest.version}: set REGISTRY_NOMENCLATURE_DIR to a "
            f"directory holding registry-nomenclatures.v{version}.json"
        )


@dataclass(frozen=True)
class _ProposalRefused:
    """A refusal made at proposal, with the built-in rules the proposal had passed until then:
    the journal names them like those of any other refusal (A6R-48 e)."""

    refusal: DomainError
    rules_applied: list[str]


def _recorded_refusal(recorded: dict[str, Any]) -> _ProposalRefused:
    """The refusal a journal entry records, to be recorded again as it was (replay)."""
    error = recorded["error"]
    if error.get("rule"):
        refusal: DomainError = RuleRefused(error["rule"], error["code"], error["message"])
    else:
        refusal = DomainError(error["message"], code=error["code"])
    return _ProposalRefused(refusal, recorded["rules_applied"])


def request_hash(proposal: Proposal) -> bytes:
    """What a repeat of the client's request must match: the digest of the command as the client
    sent it (a proposal awaiting its verdict keeps it, its command being resolved since)."""
    if proposal.request_digest is not None:
        return proposal.request_digest
    return command_hash(proposal)


def _held(ctx: TxContext, held: saga.Held) -> tuple[str, int, int]:
    """Reserved serials with their scope as people read it: registry/Party/activity/vintage/metric."""
    scope, first, last = held
    key = scope if isinstance(scope, tuple) else tuple(ctx.scope_view(scope).values())
    return "/".join(str(part) for part in key), first, last


def record_input(body: dict[str, Any]) -> dict[str, Any]:
    """The input a transaction record keeps of its journal entry's body: the command, who sent it,
    and what the client asked for when the command spells out the registry's choices."""
    kept = {"command": body["command"], "identity": body["identity"]}
    return {**kept, "requested": body["requested"]} if "requested" in body else kept


def command_hash(proposal: Proposal) -> bytes:
    return hashlib.sha256(
        canonical_json(
            {
                "command": proposal.command.model_dump(mode="json"),
                "initiator": proposal.principal.initiator,
                "on_behalf_of": proposal.principal.on_behalf_of,
                # A service proven by its own key is not whoever claims its name with the shared key;
                # only where set, so the digests of earlier requests keep their value.
                **({"service": proposal.principal.service} if proposal.principal.service else {}),
            }
        )
    ).digest()


@dataclass
class _Pending:
    proposal: Proposal
    future: asyncio.Future[Outcome]


class LedgerWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        topic: Callable[[str], str],
        signer: Signer,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 10.0,
        max_batch: int = 256,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_commit: Callable[[], None] = lambda: None,
        rules_verdicts: bool = False,
        verdict_deadline: float = 30.0,
        verdict_key: PublicKey | None = None,
        nomenclatures: NomenclatureVersions | None = None,
        journal_keys: JournalKeys | None = None,
    ) -> None:
        self._engine = engine
        # What the journal's checkpoints and seals may be signed with (by default the signer's key alone).
        self._journal_keys = journal_keys or (
            JournalKeys(KeyRing([signer.public_key()])) if signer is not None else JournalKeys(KeyRing())
        )
        self.nomenclatures = nomenclatures or NomenclatureVersions()
        self._topic = topic
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self._checkpoint_seconds = checkpoint_seconds
        self._max_batch = max_batch
        self._clock = clock
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.head = JournalHead()
        self.frontier = MerkleFrontier()
        self.counters = Counters()
        self.catalogue = Catalogue()
        self.issuance_approaches = IssuanceApproaches()
        self.live = LiveHoldings()
        # Held while a batch is decided: readers of `live` see it only between batches, committed.
        self._between_batches = asyncio.Lock()
        self._last_checkpoint = (0, time.monotonic())
        self._lock_conn: AsyncConnection | None = None
        self._lock_pid: int | None = None  # the backend holding LEADER_LOCK for this writer
        # Kept from batch to batch; a batch that fails discards it, and the next opens a fresh one.
        self._conn = db.KeptConnection(engine, setup=_generic_plans)
        self.ready = asyncio.Event()
        self._rules_verdicts = rules_verdicts
        self._verdict_deadline = verdict_deadline
        # What a verdict must be signed with (None: verdicts are not checked, as in unit tests).
        self._verdict_key = verdict_key
        # Clients waiting for the decision on a proposal that awaits its verdict.
        self._decisions: dict[uuid.UUID, asyncio.Future[Outcome]] = {}
        self._waiting: dict[uuid.UUID, int] = {}  # how many clients wait on each of them
        # The latest decisions on proposals, for a client whose repeat was answered "proposed" in
        # the batch that also decided it: its wait begins after the decision was given out.
        self._decided: OrderedDict[uuid.UUID, Outcome] = OrderedDict()
        self.reservations = saga.Reservations()
        # Proposals this process sent to the rules service, as their verdicts will find them, with
        # when they were proposed, their deadlines and the digests of the proposals as published.
        self._proposed: dict[uuid.UUID, tuple[Proposal, datetime, datetime, str | None]] = {}
        # Issuance metadata by issuance id (see `_metadata_of_live`), and the first id a batch may
        # give out: ids below it are committed.
        self._issuances: dict[int, dict[str, Any]] = {}
        self._committed_issuances = 0
        # Proposals whose rows the writer did not seal, by id, as `_standing` found them.
        self._unsealed: dict[uuid.UUID, str] = {}
        # Why the writer refuses the journal, while it does (see `load`).
        self.halted: str | None = None

    # -- start-up -------------------------------------------------------------------------------

    async def acquire_leadership(self) -> None:
        """Hold the writer lock for the life of this process; a second ledger instance waits here."""
        conn = await self._engine.connect()
        await db.lift_timeouts(conn)  # waiting for the lock is the point: no lock or statement limit
        await conn.execute(text(f"SELECT pg_advisory_lock({LEADER_LOCK})"))
        self._lock_pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        await conn.commit()
        self._lock_conn = conn

    async def _keep_leading(self) -> None:
        """After a failed batch: still the leader? The lock's connection may have been dropped with
        the others (a database restart, an administrator): the lock is then taken again if it is
        free; if another instance took it meanwhile, LeadershipLost (this one stops writing)."""
        if self._lock_conn is None:  # not leading at all (replay, the tools)
            return
        async with self._engine.connect() as conn:
            if await conn.scalar(text(leading_sql(self._lock_pid or 0))):
                return
        old, self._lock_conn, self._lock_pid = self._lock_conn, None, None
        with contextlib.suppress(Exception):
            await old.invalidate()
        conn = await self._engine.connect()
        pid = await conn.scalar(text(f"SELECT pg_backend_pid() WHERE pg_try_advisory_lock({LEADER_LOCK})"))
        await conn.commit()
        if pid is None:
            await conn.close()
            raise LeadershipLost("another ledger instance took the leader lock")
        log.warning("the writer's lock connection was lost; it holds the leader lock again")
        self._lock_conn, self._lock_pid = conn, pid

    async def load(self) -> None:
        async with self._engine.connect() as conn:
            await db.lift_timeouts(conn)  # reads the whole journal and every live block: long by design
            checkpoints = await checkpoints_in(conn)
            last = checkpoints[-1] if checkpoints else None
            self.head, self.frontier = JournalHead(), MerkleFrontier()
            # The last checkpoint's root and the hash of the entry it ends on, where the tail attaches.
            root, signed_hash = None, GENESIS_HASH
            result = await conn.stream(text("SELECT sequence, entry_hash, recorded_at FROM journal ORDER BY sequence"))
            async for sequence, digest, recorded_at in result:
                self.frontier.append(bytes(digest))
                self.head = JournalHead(sequence, bytes(digest), recorded_at)
                if last is not None and sequence == last.tree_size:
                    root, signed_hash = self.frontier.root(), bytes(digest)
            signed = last.tree_size if last is not None else 0
            try:
                self._vouch(
                    last, root, ChainCursor(JournalHead.chain, signed, signed_hash), *await tail_in(conn, signed)
                )
            except JournalNotVouched as refused:
                self.halted = str(refused)
                raise
            self.halted = None
            self._last_checkpoint = (signed, time.monotonic())
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT COALESCE(max(id), 0) FROM unit_blocks), "
                        "(SELECT COALESCE(max(id), 0) FROM issuances), "
                        "(SELECT COALESCE(max(id), 0) FROM serial_scopes), (SELECT count(*) FROM accounts)"
                    )
                )
            ).one()
            accounts, scopes, suspended, approaches = await LedgerRepository(conn).load_catalogue()
            self.live = await LedgerRepository(conn).live_holdings()
            self.issuance_approaches = IssuanceApproaches(await LedgerRepository(conn).issuance_approaches())
        self.counters = Counters(block=row[0] + 1, issuance=row[1] + 1, scope=row[2] + 1, account=row[3] + 1)
        views = {v: scope_view(k) for k, v in scopes.items()}
        self.catalogue = Catalogue(accounts, scopes, views, suspended, approaches)
        async with self._engine.connect() as conn:
            pending = await LedgerRepository(conn).pending_proposals()
        self.reservations.load([(row.id, row.reserved) for row in pending if self._standing(row) == "sealed"])
        # The live blocks stay for the life of the process: keep them out of the collector's full
        # passes (a pass over 10^6 blocks would pause every request in flight).
        gc.collect()
        gc.freeze()

    def unavailable(self) -> RegistryError:
        """What a request is told while this writer is not writing."""
        return not_vouched() if self.halted else not_writing()

    def _standing(self, row: Any) -> str:
        """How far the writer vouches for a proposal's row, which a ledger restarted meanwhile
        decides from: `sealed` by its current key as it stands; `deny_only`, with no seal (kept by a
        build before the seals) or a retired key's (whose seed may have leaked), so only its deadline
        denies it, whatever verdict comes, and it reserves nothing; `forged`, sealed by no journal
        key as it stands (slipped in, or copied with another's seal): never decided, reserves nothing."""
        keys, fields = self._journal_keys, saga.proposal_fields(row)
        refusal = keys.proposal_seal_refusal(fields, row.seal)
        if refusal is None:
            return "sealed"
        retired = row.seal is not None and keys.proposal_seal_refusal(fields, row.seal, retired_too=True) is None
        standing = "deny_only" if row.seal is None or retired else "forged"
        if row.id not in self._unsealed:
            self._unsealed[row.id] = standing
            if standing == "forged":
                log.error("proposal %s is not sealed by this ledger's writer (%s): never decided", row.id, refusal)
            else:
                log.warning(
                    "proposal %s is not sealed with the current key (%s): denied at its deadline", row.id, refusal
                )
        return standing

    def _vouch(
        self,
        last: Checkpoint | None,
        root: bytes | None,
        cursor: ChainCursor,
        entries: list[JournalEntry],
        tail: list[TailEntry],
    ) -> None:
        """Refuse to go on with a journal this writer cannot vouch for: its next checkpoint would
        sign whatever the table holds. What the last checkpoint covers is proven by its signature;
        the entries after it, by their chain from it and the seal of the last batch the writer
        committed (domain.journal)."""
        keys = self._journal_keys
        if last is not None:
            if root is None:
                refusal = f"it covers {last.tree_size} entries, the journal holds {self.head.sequence}"
            else:
                refusal = "Merkle root does not match" if root != last.root_hash else keys.refusal(last)
            if refusal is not None:
                raise JournalNotVouched(f"the last checkpoint ({last.tree_size}): {refusal}")
        for entry in entries:
            if (broken := cursor.follow(entry.link())) is not None:
                raise JournalNotVouched(f"entry {broken.sequence}: {broken.reason}; run `registry-ledger verify`")
        if (broken := unsealed_tail(tail, keys)) is not None:
            raise JournalNotVouched(f"{broken.reason}; run `registry-ledger verify`")

    async def close(self) -> None:
        await self._conn.discard()
        conn, self._lock_conn, self._lock_pid = self._lock_conn, None, None
        if conn is not None:
            # The lock is the session's: back in the pool, the connection would keep it for whoever
            # borrows it next, and a new writer would wait for it for ever. Released now, and the
            # connection dropped rather than pooled, should the release itself fail.
            with contextlib.suppress(Exception):
                await conn.execute(text(f"SELECT pg_advisory_unlock({LEADER_LOCK})"))
                await conn.commit()
            await conn.invalidate()
            await conn.close()

    # -- the loop -------------------------------------------------------------------------------

    async def submit(self, proposal: Proposal) -> Outcome:
        if not self.ready.is_set():
            # No run() takes from the queue (starting, or waiting to lead again after a failure):
            # a proposal queued now would wait for ever.
            raise self.unavailable()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(proposal, future))
        return await future

    async def preview(self, source: str, destination: str, selection: Selection) -> list[Piece]:
        """A6R-52's selection as a transfer to `destination` proposed now would make it, around
        every reservation, from the committed state (between batches)."""
        async with self._engine.connect() as conn:
            eligible = await units.eligibility(
                LedgerRepository(conn), self.catalogue.scope_views.__getitem__, selection
            )
        async with self._between_batches:
            account = self.catalogue.accounts.get(destination)
            approach_of, parties_of = self.issuance_approaches.by_id.get, self.catalogue.approaches.get
            # Every reservation counts (a client may name a proposal by any id, the nil one too).
            reserved = self.reservations.others(None)
            chosen = units.choose_implicit(
                self.live, source, selection.quantity, eligible, reserved, account, approach_of, parties_of
            )
        if account is not None:
            # As the transfer would be refused: units the destination does not take.
            enforce(units.untaken_pieces(account, chosen, approach_of, parties_of), False, Role.ACCOUNT_HOLDER)
        if self._rules_verdicts:
            # As a proposal of it would be refused (saga.resolved names one range per block).
            saga.require_nameable(len(chosen))
        return chosen

    async def wait_decision(self, tx: uuid.UUID, timeout: float) -> Outcome | None:
        """The decision on a proposed transaction, if it is taken within `timeout` seconds."""
        if (decided := self._decided.get(tx)) is not None:
            return decided
        future = self._decisions.setdefault(tx, asyncio.get_running_loop().create_future())
        self._waiting[tx] = self._waiting.get(tx, 0) + 1
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            # The last waiter leaves nothing behind: a decision that never comes (no verdict feed)
            # would keep the future for ever; another client's repeat may still wait on it.
            self._waiting[tx] -= 1
            if not self._waiting[tx]:
                del self._waiting[tx]
                if self._decisions.get(tx) is future:
                    del self._decisions[tx]

    async def decide(self, tx: uuid.UUID, verdict: dict[str, Any] | None) -> Outcome | None:
        """Take the decision on a proposal with the rules service's verdict, or None: its deadline
        passed without one. None if there is no such proposal; a repeat if it was decided already. A
        verdict that comes after the deadline the client was given is the deadline's denial (the
        client was told the transaction would not be recorded without a verdict by then), which
        keeps the verdict that came late (A6R-48 f)."""
        known = self._proposed.get(tx)
        unvouched = False
        if known is None:
            # Proposed before this process started, or a verdict read again: the database knows.
            async with self._engine.connect() as conn:
                row = await LedgerRepository(conn).proposal(tx)
            if row is None:
                if verdict is not None:
                    log.info("a verdict on transaction %s found no proposal awaiting one", tx)
                return None
            standing = self._standing(row)
            if standing == "forged" or (standing == "deny_only" and self._clock() <= row.deadline):
                return None  # never decided; or denied at its deadline, and nothing before
            unvouched = standing == "deny_only"
            try:
                known = (
                    Proposal(
                        transaction_id=tx,
                        command=saga.COMMAND.validate_python(row.command),
                        principal=principal_from_identity(row.identity),
                        proposed_at=datetime.min,
                        request_digest=bytes(row.request_hash),
                        requested=None if row.requested is None else saga.COMMAND.validate_python(row.requested),
                    ),
                    row.proposed_at,
                    row.deadline,
                    row.proposal_digest,
                )
            except (ValidationError, ValueError, TypeError, KeyError) as exc:
                self._never_decided(tx, f"it holds no proposal the ledger could have made: {exc}")
                return None
        proposal, proposed_at, deadline, published = known
        if unvouched:
            # Whatever verdict came is neither applied nor kept: it may answer what someone else published.
            verdict = saga.unvouched_verdict(proposed_at)
        elif verdict is not None and self._verdict_key is not None:
            try:
                check_verdict(verdict, self._verdict_key, published or "")
            except SignatureInvalid as exc:
                # Not the rules service's answer to what was published: the proposal waits on for
                # that one (or the deadline), and whoever can write to the broker cannot decide (A6R-38).
                log.warning("a verdict on transaction %s was refused: %s", tx, exc)
                return None
        # Taken only now: a refused verdict leaves the proposal as it was, and puts nothing back.
        self._proposed.pop(tx, None)
        if not unvouched and (verdict is None or self._clock() > deadline):
            verdict = saga.deadline_verdict(self._verdict_deadline, proposed_at, late=verdict)
        try:
            return await self.submit(replace(proposal, verdict=verdict))
        except IdempotencyConflict as conflict:
            if not unvouched:
                raise
            # A row under the id of a transaction recorded for another request: not the writer's.
            self._never_decided(tx, str(conflict))
            return None

    def _never_decided(self, tx: uuid.UUID, why: str) -> None:
        """Leave a proposal row the writer cannot decide where it is, and skip it from now on (the
        deadlines' loop and the verdict feed would otherwise meet it again and again)."""
        self._unsealed[tx] = "forged"
        log.error("proposal %s is never decided: %s", tx, why)

    async def expire_overdue(self, stop: asyncio.Event) -> None:
        """Reject proposals whose verdict did not come in time: never recorded without one."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if stop.is_set() or not self.ready.is_set():
                continue
            try:
                async with self._engine.connect() as conn:
                    forged = [tx for tx, standing in self._unsealed.items() if standing == "forged"]
                    overdue = await LedgerRepository(conn).overdue_proposals(self._clock(), forged)
            except Exception:
                log.exception("could not read the overdue proposals")
                continue
            for tx in overdue:
                try:
                    await self.decide(tx, None)
                except Exception:
                    # One that fails does not keep the others from their deadlines' denials.
                    log.exception("could not expire proposal %s", tx)

    async def run(self, stop: asyncio.Event) -> None:
        await self.acquire_leadership()
        try:
            # Inside: a load that fails lets the lock go with the rest (`close`), or the run the
            # supervisor restarts would wait for the lock this one holds, for ever.
            await self.load()
            self.ready.set()
            while not stop.is_set():
                try:
                    first = await asyncio.wait_for(self._queue.get(), timeout=1.0)
                except TimeoutError:
                    await self._maybe_checkpoint_idle()
                    continue
                batch = [first]
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                async with self._between_batches:
                    await self._process(batch)
        finally:
            # Not writing until a restarted run() leads again (another instance may lead meanwhile):
            # refuse new proposals, and answer the queued ones, none of which was decided.
            self.ready.clear()
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(self.unavailable())
            await self.close()

    async def _reload_or_answer(self, waiting: list[_Pending]) -> None:
        """Reload the state after a failed apply. If even that fails (the database is away), answer
        everyone still waiting with the failure rather than leave them waiting on a writer that is
        about to stop and be restarted."""
        try:
            await self._keep_leading()
            await self.load()
        except Exception as exc:
            answer = _client_answer(exc)
            for pending in waiting:
                if not pending.future.done():
                    pending.future.set_exception(answer)
            raise

    async def _process(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self.apply([p.proposal for p in batch])
        except Exception:
            # Something no proposal should cause (a defect, or the database away): nothing of the
            # batch was committed. Retry each proposal alone so one cannot sink the others.
            log.exception("batch of %d failed; retrying one by one", len(batch))
            await self._reload_or_answer(batch)
            for n, pending in enumerate(batch):
                try:
                    (outcome,) = await self.apply([pending.proposal])
                except Exception as exc:
                    if not pending.future.done():
                        pending.future.set_exception(_client_answer(exc))
                    await self._reload_or_answer(batch[n + 1 :])
                else:
                    self._on_commit()
                    self._answer(pending, outcome)
            return
        self._on_commit()
        for pending, outcome in zip(batch, outcomes, strict=True):
            self._answer(pending, outcome)

    def _answer(self, pending: _Pending, outcome: Outcome | IdempotencyConflict) -> None:
        """Answer a committed proposal's client (a conflict is raised to it, not returned), and
        whoever waits for the decision on it."""
        # A waiter cancelled meanwhile (the client went away) is done: setting it would raise
        # InvalidStateError and end the caller's loop.
        if isinstance(outcome, Exception):
            if not pending.future.done():
                pending.future.set_exception(outcome)
        elif not pending.future.done():
            pending.future.set_result(outcome)
        if isinstance(outcome, Outcome) and outcome.outcome != "proposed":
            waiter = self._decisions.pop(outcome.transaction_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)
            if pending.proposal.verdict is not None:
                # Decisions on proposals only: nobody waits for another transaction's.
                self._decided[outcome.transaction_id] = outcome
                if len(self._decided) > DECISIONS_KEPT:
                    self._decided.popitem(last=False)

    async def apply(self, proposals: list[Proposal], *, stamp: bool = True) -> list[Any]:
        """Decide and record proposals in one database transaction; return an Outcome (or an
        IdempotencyConflict) per proposal. With `stamp`, proposals get the writer's clock;
        replay passes the recorded instants instead.

        Handlers check everything before they write, so a refusal normally has nothing to undo
        and needs no savepoint (two round trips saved per transaction). If a refusal comes after
        a write, the batch is abandoned and run again with a savepoint around every proposal."""
        try:
            return await self._apply(proposals, stamp=stamp, savepoints=False)
        except _RefusedAfterWrite:
            return await self._apply(proposals, stamp=stamp, savepoints=True)

    async def _apply(self, proposals: list[Proposal], *, stamp: bool, savepoints: bool) -> list[Any]:
        head, frontier, counters = replace(self.head), self._copy_frontier(), replace(self.counters)
        self._committed_issuances = counters.issuance
        catalogue, reservations = self.catalogue.copy(), self.reservations.copy()
        mark = self.live.mark()
        try:
            conn = await self._conn.get()
            async with conn.begin():
                repo = LedgerRepository(conn)
                results = await self._decide_all(repo, proposals, stamp=stamp, savepoints=savepoints)
        except BaseException as exc:
            self.head, self.frontier, self.counters, self.catalogue = head, frontier, counters, catalogue
            # The batch's holds and releases did not happen: a re-run must not see them.
            self.reservations = reservations
            self.live.rollback(mark)
            self.issuance_approaches.forget_from(counters.issuance)
            if not isinstance(exc, _RefusedAfterWrite):
                # The connection may be what failed: never reuse it.
                await self._conn.discard()
            raise
        self.live.forget()
        return results

    async def _decide_all(
        self, repo: LedgerRepository, proposals: list[Proposal], *, stamp: bool, savepoints: bool
    ) -> list[Any]:
        ids = [p.transaction_id for p in proposals]
        known, awaiting = await repo.known_transactions(ids, awaiting=self._rules_verdicts, leader=self._lock_pid)
        results: list[Any] = []
        entries: list[JournalEntry] = []
        events: list[tuple[str, Any]] = []
        now = self.head.instant(self._clock())
        for proposal in proposals:
            # The idempotency digest is needed up to three times per proposal: compute it once.
            proposal = replace(
                proposal, request_digest=request_hash(proposal), proposed_at=now if stamp else proposal.proposed_at
            )
            previous = known.get(proposal.transaction_id)
            if previous is not None:
                results.append(self._repeat(previous, proposal))
                continue
            if proposal.verdict is None and proposal.transaction_id in awaiting:
                results.append(self._repeat(_awaiting(awaiting[proposal.transaction_id]), proposal))
                continue
            refusal: _ProposalRefused | None = None
            if proposal.refused_at_proposal is not None:
                refusal = _recorded_refusal(proposal.refused_at_proposal)
            elif self._rules_verdicts and saga.is_pending_kind(proposal):
                proposed, proposed_events, refusal = await self._propose(repo, proposal)
                if proposed is not None:
                    awaiting[proposal.transaction_id] = proposed
                    results.append(proposed.outcome)
                    events += proposed_events
                    continue
            outcome, entry, tx_events = await self._decide(repo, proposal, savepoints, refusal)
            known[proposal.transaction_id] = _Known(request_hash(proposal), outcome)
            results.append(outcome)
            entries.append(entry)
            events += tx_events
        # The batch's writes need no answer but success: one round trip for all of them and the
        # COMMIT (each checks its own outcome in the database, so nothing wrong is committed).
        async with repo.pipelined(commit=True):
            if entries:
                await repo.flush_transactions()
                await repo.append_journal(entries, seal(self._signer, entries[-1]))
                # After the entries' events: on the topic, a checkpoint follows the entries it signs.
                events += await self._checkpoint_if_due(repo)
            await repo.flush_moves()
            await repo.flush_proposals()
            # Proposals awaiting a verdict add events without journal entries.
            if events:
                await repo.execute_write(ADD_EVENTS_SQL, add_events_params(events))
        return results

    def _copy_frontier(self) -> MerkleFrontier:
        copy = MerkleFrontier()
        copy.size, copy._peaks = self.frontier.size, list(self.frontier._peaks)
        return copy

    def _repeat(self, previous: Any, proposal: Proposal) -> Any:
        if bytes(previous.request_hash) != request_hash(proposal):
            return IdempotencyConflict(f"transaction id {proposal.transaction_id} was already used for another request")
        if isinstance(previous, _Known | _Awaiting):
            return replace(previous.outcome, replayed=True)
        return Outcome(
            previous.id,
            previous.outcome,
            previous.result,
            previous.journal_sequence,
            previous.recorded_at,
            replayed=True,
        )

    def _context(self, repo: LedgerRepository, proposal: Proposal, **extra: Any) -> TxContext:
        """A proposal's context over the writer's state: its counters, catalogue and live holdings."""
        return TxContext(
            repo=repo,
            proposal=proposal,
            counters=self.counters,
            catalogue=self.catalogue,
            live=self.live,
            nomenclatures=self.nomenclatures,
            issuance_approaches=self.issuance_approaches,
            **extra,
        )

    async def _decide(
        self,
        repo: LedgerRepository,
        proposal: Proposal,
        savepoints: bool,
        at_proposal: _ProposalRefused | None = None,
    ) -> tuple[Outcome, JournalEntry, list[tuple[str, Any]]]:
        ctx = self._context(repo, proposal)
        ctx.refused_at_proposal = at_proposal is not None
        handler = HANDLERS[proposal.command.kind]
        counters_before = replace(self.counters)
        if proposal.verdict is not None:
            repo.close_proposal(proposal.transaction_id, proposal.proposed_at)
            self.reservations.release(proposal.transaction_id)
        writes_before, mark = repo.writes, self.live.mark()
        savepoint = None
        if savepoints:
            savepoint = await repo.savepoint()
        try:
            if at_proposal is not None:
                ctx.rules_applied += at_proposal.rules_applied
                raise at_proposal.refusal
            if proposal.verdict is not None:
                ctx.rules_applied += saga.rule_refs(proposal.verdict)
                if proposal.verdict["outcome"] != "accept":
                    rule, code, message = saga.denial(proposal.verdict)
                    raise RuleRefused(rule, code, message)
            result = await handler(ctx, proposal.command)
            if proposal.verdict is not None:
                # A correction is never denied by pluggable rules; the journal names those it breaks (A6R-55).
                ctx.broken_rules += saga.broken_refs(proposal.verdict)
                await units.apply_supplementary(ctx, result, proposal.verdict)
            if savepoint is not None:
                await repo.flush_moves()
                await savepoint.commit()
            ctx.merge()
            outcome_name = "recorded"
        except DomainError as refused:
            refusal = refused
            if savepoint is not None:
                await repo.flush_moves()
                await savepoint.rollback()
            elif repo.writes != writes_before:
                raise _RefusedAfterWrite from refusal
            self.live.rollback(mark)
            self.counters.__dict__.update(counters_before.__dict__)
            rule = refusal.rule if isinstance(refusal, RuleRefused) else None
            result = {"error": {"code": refusal.code, "message": refusal.message, "rule": rule}}
            outcome_name = "rejected"
            ctx.events = [
                Event(
                    "ledger.TransactionRejected",
                    str(proposal.transaction_id),
                    {
                        "transaction_id": str(proposal.transaction_id),
                        "kind": proposal.command.kind,
                        "rule": rule or "validation",
                        "code": refusal.code,
                        "message": refusal.message,
                        "rejected_at": proposal.proposed_at,
                    },
                )
            ]
        return await self._record(repo, ctx, outcome_name, result)

    async def _propose(
        self, repo: LedgerRepository, proposal: Proposal
    ) -> tuple[_Awaiting | None, list[tuple[str, Any]], _ProposalRefused | None]:
        """Saga step 1: learn what the command would do, keep the resolved command, reserve what it
        takes, and ask the rules service. A transfer is run dry (chosen and checked, nothing
        written); an issuance writes new blocks and scopes, so it runs in a savepoint that is rolled
        back. A refusal (built-in rules, or units another waiting proposal holds) is returned for
        `_decide` to record at once: no verdict could save it."""
        tx = proposal.transaction_id
        dry_run = proposal.command.kind in saga.MOVING_KINDS
        ctx = self._context(
            repo,
            proposal,
            reserved=self.reservations.others(tx),
            serial_floor=self.reservations.serial_floor(),
            dry_run=dry_run,
        )
        counters_before, mark = replace(self.counters), self.live.mark()
        savepoint = None
        if not dry_run:
            savepoint = await repo.savepoint()
        try:
            result = await HANDLERS[proposal.command.kind](ctx, proposal.command)
            # Resolved here: a selection it cannot name (too many blocks) is a refusal.
            command = saga.resolved(proposal.command, result)
            block_ids = [b["block_id"] for b in result["blocks"]]
            # An issuance's new blocks exist only in its savepoint: their metadata is read there.
            metadata = await repo.block_metadata(block_ids) if savepoint is not None else None
        except DomainError as refusal:
            return None, [], _ProposalRefused(refusal, ctx.rules_applied)
        finally:
            if savepoint is not None:
                await repo.flush_moves()
                await savepoint.rollback()
            self.live.rollback(mark)
            self.counters.__dict__.update(counters_before.__dict__)
        if metadata is None:
            metadata = await self._metadata_of_live(repo, block_ids)
        # Units generated in a scope new to this registry are reserved by the scope's key, not among
        # the moved serials by its id: that id was handed out in the rolled-back savepoint, and the
        # next new scope gets it.
        moved = tuple(r for r in ctx.taken if r[0] < counters_before.scope)
        issued = tuple(ctx.generated)
        if clashes := self.reservations.clashes(tx, moved, issued):
            held_by = {t: [_held(ctx, h) for h in held] for t, held in clashes.items()}
            return None, [], _ProposalRefused(saga.units_reserved(held_by), ctx.rules_applied)
        envelope = self._envelope("rules.ProposalSubmitted", str(tx), saga.proposal_payload(ctx, result, metadata), tx)
        # What the verdict must name as the proposal it answers (registry_contracts.verdicts).
        published = proposal_digest(envelope.payload)
        deadline = proposal.proposed_at + timedelta(seconds=self._verdict_deadline)
        digest = request_hash(proposal)
        requested = proposal.command if command != proposal.command else None
        row = saga.ProposalRow(
            id=tx,
            request_hash=digest,
            command=command.model_dump(mode="json"),
            requested=None if requested is None else requested.model_dump(mode="json"),
            identity=proposal.identity(),
            proposed_at=proposal.proposed_at,
            deadline=deadline,
            reserved=saga.Reservations.as_json(moved, issued),
            proposal_digest=published,
        )
        # Sealed: a ledger restarted meanwhile decides the proposal from its row (see `decide`).
        repo.add_proposal(row, self._signer.sign(proposal_seal_message(saga.proposal_fields(row))))
        self.reservations.hold(tx, moved, issued)
        self._proposed[tx] = (
            Proposal(
                transaction_id=tx,
                command=command,
                # As the database keeps it: the decision must not depend on which of the two it comes from.
                principal=principal_from_identity(proposal.identity()),
                proposed_at=datetime.min,
                request_digest=digest,
                requested=requested,
            ),
            proposal.proposed_at,
            deadline,
            published,
        )
        outcome = Outcome(
            tx,
            "proposed",
            {"awaiting": "verdict of the rules service", "deadline": deadline.isoformat()},
            0,
            proposal.proposed_at,
        )
        return _Awaiting(digest, outcome), [(self._topic(saga.PROPOSALS_TOPIC), envelope)], None

    async def _metadata_of_live(self, repo: LedgerRepository, block_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The issuance metadata of live blocks. Issuance records never change, so the metadata of
        those committed before this batch is kept in memory (one entry per issuance a proposal
        touched); this batch's own issuances are read in its transaction and not kept, since a
        failed batch gives their ids out again."""
        holdings = []
        for block_id in block_ids:
            holding = self.live.get(block_id)
            if holding is None:
                raise InvariantViolation(f"a dry run named block {block_id}, which is not live")
            holdings.append(holding)
        missing = sorted({h.issuance_id for h in holdings} - self._issuances.keys())
        found = await repo.issuance_metadata(missing) if missing else {}
        self._issuances.update((i, m) for i, m in found.items() if i < self._committed_issuances)
        return {h.block_id: found.get(h.issuance_id) or self._issuances[h.issuance_id] for h in holdings}

    async def _record(
        self, repo: LedgerRepository, ctx: TxContext, outcome_name: str, result: dict[str, Any]
    ) -> tuple[Outcome, JournalEntry, list[tuple[str, Any]]]:
        proposal = ctx.proposal
        command = proposal.command.model_dump(mode="json")
        identity = proposal.identity()
        body = {
            "transaction_id": str(proposal.transaction_id),
            "outcome": outcome_name,
            "command": command,
            "identity": identity,
            "rules_applied": ctx.rules_applied,
            "broken_rules": ctx.broken_rules,
            "external_data": {},
            "result": result,
        }
        if proposal.verdict is not None:
            body["verdict"] = proposal.verdict
        if ctx.refused_at_proposal:
            # Decided against the reservations of proposals then awaiting their verdicts, which
            # the journal does not hold: replay records this refusal as it stands (see replay.py).
            body["refused_at"] = "proposal"
        if ctx.ruleset > 1:
            body["builtin_ruleset"] = ctx.ruleset
        # Only where units are generated, so a transfer's entry costs nothing more (A6R-57).
        if command["kind"] in units.JUDGED_BY_NOMENCLATURE and ctx.ruleset >= 4:
            body["nomenclature_version"] = ctx.nomenclature.version
        digest = request_hash(proposal)
        if proposal.verdict is not None and digest != command_hash(proposal):
            # The client sent a selection, or no first serial; the journal keeps what was chosen.
            # Replay needs the digest of what was sent to answer the client's repeats as before.
            body["request_hash"] = digest.hex()
        requested = None if proposal.requested is None else proposal.requested.model_dump(mode="json")
        if requested is not None:
            # What the client asked for, beside what was chosen for it (A6R-48 d, A6R-52).
            body["requested"] = requested
        entry = self.head.append(proposal.proposed_at, command["kind"], body)
        self.frontier.append(entry.entry_hash)
        repo.add_transaction(
            tx=proposal.transaction_id,
            kind=command["kind"],
            request_hash=digest,
            outcome=outcome_name,
            initiator=proposal.principal.initiator,
            on_behalf_of=proposal.principal.on_behalf_of,
            input=record_input(body),
            result=result,
            journal_sequence=entry.sequence,
            recorded_at=entry.recorded_at,
        )
        outcome = Outcome(proposal.transaction_id, outcome_name, result, entry.sequence, entry.recorded_at)
        tx = proposal.transaction_id
        events = [(self._topic(TRANSACTIONS_TOPIC), self._envelope(e.type, e.key, e.payload, tx)) for e in ctx.events]
        events.append(
            (
                self._topic(JOURNAL_TOPIC),
                self._envelope(
                    "ledger.JournalEntryAppended",
                    "journal",
                    {
                        "sequence": entry.sequence,
                        "entry_hash": entry.entry_hash.hex(),
                        "previous_hash": entry.previous_hash.hex(),
                        "kind": entry.kind,
                        "recorded_at": entry.recorded_at,
                        "body": entry.body,
                    },
                    tx,
                ),
            )
        )
        return outcome, entry, events

    @staticmethod
    def _envelope(type: str, key: str, payload: dict[str, Any], tx: uuid.UUID) -> Any:
        """An event of transaction `tx`. Its id is the correlation id of every event of that
        transaction (the journal entry, what it changed, its proposal and, through causation, the
        rules service's verdict), so a consumer can gather them."""
        return new_envelope(
            type=type,
            key=key,
            producer="ledger",
            payload={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in payload.items()},
            correlation_id=tx,
        )

    # -- checkpoints ----------------------------------------------------------------------------

    async def _checkpoint_if_due(self, repo: LedgerRepository) -> list[tuple[str, Any]]:
        """Sign a checkpoint if one is due; return the event that publishes it on the journal
        topic, to be written with it. Held there, outside this database, a checkpoint deleted here
        is still found (`registry-ledger verify --against-topic`)."""
        size, at = self._last_checkpoint
        due_by_count = self.frontier.size // self._checkpoint_every > size // self._checkpoint_every
        due_by_time = time.monotonic() - at >= self._checkpoint_seconds
        if self.frontier.size <= size or not (due_by_count or due_by_time):
            return []
        checkpoint = sign_checkpoint(self._signer, self.frontier.size, self.frontier.root(), self._clock())
        await repo.add_checkpoint(checkpoint)
        self._last_checkpoint = (self.frontier.size, time.monotonic())
        return [(self._topic(JOURNAL_TOPIC), checkpoint_event(checkpoint))]

    async def _maybe_checkpoint_idle(self) -> None:
        size, at = self._last_checkpoint
        if self.frontier.size > size and time.monotonic() - at >= self._checkpoint_seconds:
            conn = await self._conn.get()
            repo = LedgerRepository(conn)
            try:
                async with conn.begin(), repo.pipelined(commit=True):
                    events = await self._checkpoint_if_due(repo)
                    if events:
                        await repo.execute_write(ADD_EVENTS_SQL, add_events_params(events))
            except BaseException:
                await self._conn.discard()
                raise
            self._on_commit()


def checkpoint_event(checkpoint: Checkpoint) -> Any:
    """The event that publishes a signed checkpoint on the journal topic."""
    return new_envelope(
        type="ledger.JournalCheckpointSigned", key="journal", producer="ledger", payload=checkpoint.payload()
    )


async def _generic_plans(conn: AsyncConnection) -> None:
    # The writer runs a few known statements all day; their generic plans were measured at 10^6
    # live blocks as good as custom ones, and skipping the planning saves about a quarter of
    # PostgreSQL's CPU per transfer. Other readers keep custom plans (db.py).
    await conn.execute(text("SET plan_cache_mode = auto"))


@dataclass(frozen=True)
class _Known:
    """A transaction decided earlier in the same batch."""

    request_hash: bytes
    outcome: Outcome


@dataclass(frozen=True)
class _Awaiting:
    """A proposal waiting for its verdict; a repeated request gets its 'proposed' answer again."""

    request_hash: bytes
    outcome: Outcome


def _awaiting(row: Any) -> _Awaiting:
    if isinstance(row, _Awaiting):
        return row
    result = {"awaiting": "verdict of the rules service", "deadline": row.deadline.isoformat()}
    return _Awaiting(bytes(row.request_hash), Outcome(row.id, "proposed", result, 0, row.proposed_at))
