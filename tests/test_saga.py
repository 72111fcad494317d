"""The proposal-verdict saga between the real ledger and the real rules service over the real broker
(issue 5; A6R-17, A6R-38, A6R-39, A6R-47): verdicts decide, supplementary operations are recorded
atomically with the main operation, denials name the rule version, no verdict means rejection after
the deadline, and a replay of the journal applies the same verdicts and reproduces the state."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from ledger.adapters.repository import LedgerRepository
from ledger.bootstrap import DEFINITION as LEDGER
from ledger.entrypoints import cli as ledger_cli
from ledger.settings import LedgerSettings
from registry_contracts.envelope import EventEnvelope
from registry_contracts.verdicts import DEV_VERDICT_SEED, proposal_digest, sign_verdict, verdict_signer
from registry_platform import db
from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.events import new_envelope
from registry_platform.service import create_app
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.infra import free_port, serve_app, spawn_service, wait_ready
from registry_platform.testing.tokens import gateway_token
from rules.bootstrap import DEFINITION as RULES

pytestmark = pytest.mark.integration
KEY = dev_signing_key(DEV_TOKEN_SECRET)
SCOPE = {"originating_registry": "CHE01", "issuing_party": "GHA", "activity_id": "GH-COOK-001", "vintage": 2024}


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(KEY, 'rada', [Grant('registry_administrator')])}"}


class Registry:
    def __init__(self, http: httpx.AsyncClient, ledger: str, rules: str | None) -> None:
        self.http, self.ledger, self.rules = http, ledger, rules

    async def propose(self, command: dict[str, Any]) -> httpx.Response:
        url = f"{self.ledger}/transactions/{uuid.uuid4()}"
        return await self.http.put(url, json=command, headers=_headers())

    async def ok(self, command: dict[str, Any]) -> dict[str, Any]:
        response = await self.propose(command)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def get(self, base: str, path: str) -> Any:
        response = await self.http.get(f"{base}{path}", headers=_headers())
        assert response.status_code == 200, response.text
        return response.json()

    async def balance(self, account: str) -> int:
        return int((await self.get(self.ledger, f"/accounts/{account}"))["balance"])

    async def rules_ok(self, method: str, path: str, body: Any = None) -> Any:
        assert self.rules is not None
        response = await self.http.request(method, f"{self.rules}{path}", json=body, headers=_headers())
        assert response.status_code in (200, 201), response.text
        return response.json()


async def _ready(http: httpx.AsyncClient, url: str) -> None:
    for _ in range(400):
        if (await http.get(f"{url}/ready")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not become ready")


@contextlib.asynccontextmanager
async def running(
    service_settings: Any, *, with_rules: bool, deadline: float = 30.0, wait: float = 5.0
) -> AsyncIterator[Registry]:
    ledger_settings = service_settings(
        "ledger", LedgerSettings, verdict_deadline_seconds=deadline, verdict_wait_seconds=wait
    )
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        rules_url = None
        if with_rules:
            rules_url = await stack.enter_async_context(serve_app(create_app(RULES, service_settings("rules"))))
            await _ready(http, rules_url)
        ledger_url = await stack.enter_async_context(serve_app(create_app(LEDGER, ledger_settings)))
        await _ready(http, ledger_url)
        yield Registry(http, ledger_url, rules_url)


async def _accounts(registry: Registry) -> dict[str, str]:
    await registry.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    numbers = {}
    for name, type_ in [("issuance", "issuance"), ("holding", "holding"), ("adaptation", "holding")]:
        opened = await registry.ok({"kind": "open_account", "holder": name, "section": "GHA", "type": type_})
        numbers[name] = opened["account"]
        change = {"kind": "change_account_status", "account": opened["account"], "status": "active", "reason": "t"}
        await registry.ok(change)
    return numbers


def _issue(account: str, quantity: int) -> dict[str, Any]:
    return {
        "kind": "issue_units",
        "account": account,
        "scope": SCOPE,
        "quantity": quantity,
        "first_transferring_party": "GHA",
    }


def _transfer(source: str, destination: str, quantity: int) -> dict[str, Any]:
    return {
        "kind": "transfer_units",
        "source": source,
        "destination": destination,
        "units": {"selection": {"quantity": quantity}},
    }


async def test_a6r38_verdicts_decide_and_supplementary_operations_are_atomic_and_replayable(
    service_settings, infra, database_url, monkeypatch
) -> None:
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        # No rule bound yet: the rules service accepts, the ledger records.
        plain = await registry.ok(_issue(acc["issuance"], 100))
        assert plain["quantity"] == 100 and "supplementary" in plain and plain["supplementary"] == []

        await registry.rules_ok("POST", "/packs/article6-basic")
        for rule, params in [
            ("share-of-proceeds", {"adaptation_account": acc["adaptation"]}),
            ("transaction-quantity-cap", {"max_quantity": 100}),
        ]:
            binding = {"rule": rule, "target_type": "registry", "target": "*", "params": params}
            await registry.rules_ok("POST", "/bindings", binding)

        issued = await registry.ok(_issue(acc["issuance"], 1000))
        (share,) = issued["supplementary"]
        assert (share["quantity"], share["rule"], share["to_account"]) == (50, "share-of-proceeds", acc["adaptation"])
        # The share comes out of the serials just issued, highest first.
        assert share["blocks"][0]["last"] == issued["blocks"][0]["last"]
        assert await registry.balance(acc["adaptation"]) == 50
        assert await registry.balance(acc["issuance"]) == 100 + 950
        # Who may see the share's account sees the transaction that credited it (A6R-41, A6R-23).
        viewer = issue_token(KEY, "vera", [Grant("account_viewer", section="GHA", account=acc["adaptation"])])
        headers = {"Authorization": f"Bearer {viewer}"}
        listed = await registry.http.get(f"{registry.ledger}/transactions?account={acc['adaptation']}", headers=headers)
        assert issued["transaction_id"] in [t["transaction_id"] for t in listed.json()["items"]], listed.text
        shown = await registry.http.get(f"{registry.ledger}/transactions/{issued['transaction_id']}", headers=headers)
        assert shown.status_code == 200, shown.text

        denied = await registry.propose(_transfer(acc["issuance"], acc["holding"], 150))
        assert denied.status_code == 409, denied.text
        error = denied.json()["error"]
        assert error["code"] == "quantity_above_cap" and error["details"]["rule"] == "transaction-quantity-cap@v1"
        assert await registry.balance(acc["holding"]) == 0, "a denied transfer moves nothing"

        moved = await registry.ok(_transfer(acc["issuance"], acc["holding"], 60))
        assert moved["quantity"] == 60 and await registry.balance(acc["holding"]) == 60
        # What the client asked for is kept beside what was chosen for it (A6R-48 d, A6R-52).
        shown = await registry.get(registry.ledger, f"/transactions/{moved['transaction_id']}")
        asked = shown["requested"]
        assert (asked["source"], asked["destination"], asked["units"]["ranges"]) == (
            acc["issuance"],
            acc["holding"],
            None,
        )
        assert {k: v for k, v in asked["units"]["selection"].items() if v is not None} == {"quantity": 60}
        chosen = [{k: b[k] for k in ("first", "last")} for b in moved["blocks"]]
        assert [{k: r[k] for k in ("first", "last")} for r in shown["command"]["units"]["ranges"]] == chosen
        first_issued = await registry.get(registry.ledger, f"/transactions/{plain['transaction_id']}")
        assert (first_issued["requested"]["kind"], first_issued["requested"]["first_serial"]) == ("issue_units", None)
        assert first_issued["command"]["first_serial"] == 1

        # A correction is never denied by pluggable rules; it records those it breaks (A6R-55).
        cancel = await registry.ok(
            {"kind": "open_account", "holder": "registry", "section": None, "type": "administrative_cancellation"}
        )
        await registry.ok(
            {"kind": "change_account_status", "account": cancel["account"], "status": "active", "reason": "t"}
        )
        corrected = await registry.ok(
            {
                "kind": "corrective_transfer",
                "correction": "administrative_cancellation",
                "source": acc["issuance"],
                "destination": cancel["account"],
                "units": {"selection": {"quantity": 150}},
                "reason": "units issued in error",
            }
        )
        assert "transaction-quantity-cap@v1" in corrected["broken_rules"]

        journal = (await registry.get(registry.ledger, "/journal?limit=1000"))["items"]
        verdicts = [e["body"]["verdict"] for e in journal if "verdict" in e["body"]]
        assert len(verdicts) == 5, "every unit transaction was decided by a verdict"
        entry = next(e["body"] for e in journal if e["body"]["transaction_id"] == moved["transaction_id"])
        assert entry["requested"] == shown["requested"] and entry["command"] == shown["command"]
        applied = next(e["body"] for e in journal if e["body"].get("result", {}).get("supplementary"))
        assert "share-of-proceeds@v1" in applied["rules_applied"], "the journal keeps the rule versions (A6R-39)"

    # The journal alone, verdicts included, rebuilds the same registry (A6R-48).
    await _replays_to_the_live_state(infra, database_url, monkeypatch)


async def test_a6r47_a_failing_supplementary_operation_rejects_the_whole_transaction(service_settings) -> None:
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        await registry.rules_ok("POST", "/packs/article6-basic")
        # The share goes to an issuance account, which cannot receive units: nothing may be issued.
        binding = {
            "rule": "share-of-proceeds",
            "target_type": "registry",
            "target": "*",
            "params": {"adaptation_account": acc["issuance"]},
        }
        await registry.rules_ok("POST", "/bindings", binding)
        refused = await registry.propose(_issue(acc["issuance"], 1000))
        assert refused.status_code == 409, refused.text
        assert await registry.balance(acc["issuance"]) == 0, "neither the issuance nor its share was recorded"


async def test_a6r48_a_verdict_after_the_deadline_is_kept_in_the_denial_and_replays(
    service_settings, infra, database_url, monkeypatch
) -> None:
    """The rules service answers, but after the ledger's deadline (here 1 ms): the transaction is
    denied as promised, and the journal keeps the verdict that came late (A6R-48 f). The overdue
    check (once a second) may deny one before its verdict arrives; then there is none to keep."""
    async with running(service_settings, with_rules=True, deadline=0.001) as registry:
        acc = await _accounts(registry)
        ids = []
        for _ in range(3):
            response = await registry.propose(_issue(acc["issuance"], 10))
            assert response.status_code == 409 and response.json()["error"]["code"] == "no_verdict", response.text
            ids.append(response.json()["error"]["details"]["transaction_id"])
        assert await registry.balance(acc["issuance"]) == 0
        journal = (await registry.get(registry.ledger, "/journal?limit=1000"))["items"]
        verdicts = [e["body"]["verdict"] for e in journal if e["body"]["transaction_id"] in ids]
        late = [v["late_verdict"] for v in verdicts if "late_verdict" in v]
        assert len(verdicts) == 3 and late, verdicts
        assert all(v["outcome"] == "accept" and v["transaction_id"] in ids for v in late), late
        assert all("came after" in v["denials"][0]["message"] for v in verdicts if "late_verdict" in v)
        # Each says when it was proposed, as the rules service's own verdicts do (A6R-48 a).
        assert all(v["proposed_at"] for v in verdicts)
        assert all(
            v["late_verdict"]["proposed_at"][:19] == v["proposed_at"][:19] for v in verdicts if "late_verdict" in v
        )
    await _replays_to_the_live_state(infra, database_url, monkeypatch)


async def _published_proposal(infra: Any, topic_prefix: str, tx: str) -> dict[str, Any]:
    """The ProposalSubmitted payload the ledger published for transaction `tx`."""
    consumer = AIOKafkaConsumer(
        f"{topic_prefix}.ledger.proposals", bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            async for record in consumer:
                envelope = EventEnvelope.model_validate_json(record.value)
                if envelope.payload["transaction_id"] == tx:
                    return envelope.payload
    finally:
        await consumer.stop()
    raise AssertionError(f"no proposal of {tx} was published")


async def test_a6r38_a6r47_only_the_rules_services_signed_answer_to_the_published_proposal_decides(
    service_settings, infra, topic_prefix
) -> None:
    """Anyone who can write to the broker can publish a verdict. The ledger applies none that is
    unsigned, signed by another key, or the rules service's answer to another proposal than the
    one it published under that transaction id; the genuine answer then decides, and the journal
    keeps it with its signature (registry_contracts.verdicts)."""
    async with running(service_settings, with_rules=False, deadline=60.0, wait=0.2) as registry:
        acc = await _accounts(registry)
        response = await registry.propose(_issue(acc["issuance"], 10))
        assert response.status_code == 202, response.text
        tx = response.json()["transaction_id"]
        proposal = await _published_proposal(infra, topic_prefix, tx)
        now = datetime.now(UTC).isoformat()
        accept = {
            "transaction_id": tx,
            "outcome": "accept",
            "rules": [],
            "denials": [],
            "broken_rules": [],
            "supplementary_operations": [],
            "proposed_at": proposal["proposed_at"],
            "evaluated_at": now,
            "catalogue_sequence": 0,
        }
        genuine = verdict_signer(DEV_VERDICT_SEED)
        other_proposal = {**proposal, "quantity": 1_000_000}
        forged = [
            {**accept, "proposal_digest": proposal_digest(proposal)},
            sign_verdict(accept, proposal, verdict_signer("not the rules service's seed")),
            sign_verdict(accept, other_proposal, genuine),
        ]
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        await producer.start()

        async def publish(verdict: dict[str, Any]) -> None:
            envelope = new_envelope(type="rules.VerdictGiven", payload=verdict, key=tx, producer="rules")
            await producer.send_and_wait(f"{topic_prefix}.rules.verdicts", envelope.to_bytes(), key=tx.encode())

        try:
            for verdict in forged:
                await publish(verdict)
            await asyncio.sleep(2)
            pending = await registry.get(registry.ledger, f"/transactions/{tx}")
            assert pending["outcome"] == "proposed" and await registry.balance(acc["issuance"]) == 0, pending
            await publish(sign_verdict(accept, proposal, genuine))
            for _ in range(100):
                decided = await registry.get(registry.ledger, f"/transactions/{tx}")
                if decided["outcome"] != "proposed":
                    break
                await asyncio.sleep(0.1)
        finally:
            await producer.stop()
        assert decided["outcome"] == "recorded" and await registry.balance(acc["issuance"]) == 10, decided
        journal = (await registry.get(registry.ledger, "/journal?limit=1000"))["items"]
        (entry,) = [e["body"] for e in journal if e["body"]["transaction_id"] == tx]
        assert entry["verdict"]["proposal_digest"] == proposal_digest(proposal)
        assert entry["verdict"]["signature"]["kid"] == genuine.kid


async def test_a6r47_without_a_verdict_the_proposal_waits_then_is_rejected(service_settings) -> None:
    async with running(service_settings, with_rules=False, deadline=1.5) as registry:
        acc = await _accounts(registry)
        response = await registry.propose(_issue(acc["issuance"], 10))
        # The rules service is not running: no verdict within the deadline, so never recorded.
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "no_verdict" and error["details"]["rule"] == "ledger.saga.deadline@v1"
        assert "no verdict" in error["message"]
        assert await registry.balance(acc["issuance"]) == 0


async def test_a6r47_sigkill_between_verdict_and_commit_records_both_or_neither(
    service_settings, database_url, tmp_path
) -> None:
    """Issuances with a 5% share of proceeds under load, the ledger killed twice: afterwards every
    acknowledged issuance is recorded, every recorded one carries its share, and no proposal is
    left undecided (the verdicts are consumed again after the restart)."""
    settings = service_settings("ledger")
    env = {
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REGISTRY_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTRY_MODE": "test",
    }
    port = free_port()
    acknowledged: list[str] = []

    async def load(registry: Registry, account: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            tx = str(uuid.uuid4())
            try:
                r = await registry.http.put(
                    f"{registry.ledger}/transactions/{tx}", json=_issue(account, 100), headers=_headers()
                )
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            if r.status_code == 201:
                acknowledged.append(tx)

    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        rules_url = await stack.enter_async_context(serve_app(create_app(RULES, service_settings("rules"))))
        await _ready(http, rules_url)
        registry = Registry(http, f"http://127.0.0.1:{port}", rules_url)
        for round_ in range(2):
            proc = spawn_service("ledger", port, env, tmp_path, name=f"ledger-{round_}")
            await wait_ready(registry.ledger, timeout=60)
            if round_ == 0:
                acc = await _accounts(registry)
                await registry.rules_ok("POST", "/packs/article6-basic")
                params = {"adaptation_account": acc["adaptation"]}
                binding = {"rule": "share-of-proceeds", "target_type": "registry", "target": "*", "params": params}
                await registry.rules_ok("POST", "/bindings", binding)
            stop = asyncio.Event()
            workers = [asyncio.create_task(load(registry, acc["issuance"], stop)) for _ in range(8)]
            await asyncio.sleep(2.0)
            os.kill(proc.pid() or 0, signal.SIGKILL)
            stop.set()
            await asyncio.gather(*workers)
            proc.stop()
        proc = spawn_service("ledger", port, env, tmp_path, name="ledger-after")
        try:
            await wait_ready(registry.ledger, timeout=60)
            undecided = await _undecided(database_url)
            for _ in range(200):
                if undecided == 0:
                    break
                await asyncio.sleep(0.1)
                undecided = await _undecided(database_url)
            assert undecided == 0, "every proposal got its decision after the restarts"
            recorded = await _recorded_issuances(database_url)
            assert len(acknowledged) > 10, "the load ran"
            assert set(acknowledged) <= recorded, "no acknowledged issuance was lost"
            assert await registry.balance(acc["adaptation"]) == 5 * len(recorded), "each issuance has its share"
            assert await registry.balance(acc["issuance"]) == 95 * len(recorded)
        finally:
            proc.stop()


async def _scalar(database_url: str, sql: str) -> Any:
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalars().all()
    finally:
        await engine.dispose()


async def _replays_to_the_live_state(infra: Any, database_url: str, monkeypatch: Any) -> None:
    """`registry-ledger replay` rebuilds the registry from its journal into an empty database and
    exits 0 only if the rebuilt state's digest equals the live one's (A6R-48)."""
    target = infra.create_database()
    try:
        monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
        monkeypatch.setenv("REGISTRY_KAFKA_BOOTSTRAP", infra.kafka_bootstrap)
        # The records of transactions decided by verdicts agree with their entries, digests included.
        with pytest.raises(SystemExit) as verified:
            await asyncio.to_thread(ledger_cli.main, ["verify"])
        assert verified.value.code == 0
        with pytest.raises(SystemExit) as replayed:
            await asyncio.to_thread(ledger_cli.main, ["replay", "--into", target])
        assert replayed.value.code == 0
    finally:
        infra.drop_database(target)


async def _undecided(database_url: str) -> int:
    (count,) = await _scalar(database_url, "SELECT count(*) FROM proposals WHERE decided_at IS NULL")
    return int(count)


async def _recorded_issuances(database_url: str) -> set[str]:
    sql = "SELECT id::text FROM transactions WHERE kind = 'issue_units' AND outcome = 'recorded'"
    return set(await _scalar(database_url, sql))


async def test_a6r52_concurrent_implicit_transfers_from_one_block_all_succeed_while_awaiting_verdicts(
    service_settings,
) -> None:
    """Proposals awaiting their verdict hold their serials: sixteen concurrent transfers from a
    single block each select different serials, and all are recorded."""
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        await registry.ok(_issue(acc["issuance"], 1000))
        responses = await asyncio.gather(
            *(registry.propose(_transfer(acc["issuance"], acc["holding"], 10)) for _ in range(16))
        )
        assert [r.status_code for r in responses] == [201] * 16, [r.text for r in responses if r.status_code != 201]
        serials = sorted((b["first"], b["last"]) for r in responses for b in r.json()["blocks"])
        assert all(a[1] < b[0] for a, b in itertools.pairwise(serials)), "no serial moved twice"
        assert await registry.balance(acc["holding"]) == 160
        assert await registry.balance(acc["issuance"]) == 840


async def test_a6r52_serials_awaiting_a_verdict_are_reserved_against_explicit_transfers(
    service_settings, infra, database_url, monkeypatch
) -> None:
    """Eight clients ask at once for the same serials by range: one proposal reserves them while
    it awaits its verdict and is recorded; the others are refused (recorded as rejected), with
    `units_reserved` while the verdict is pending, or `range_not_held` once the units moved.
    Replay (A6R-48) reproduces the registry: the reservations those refusals were decided against
    are not in the journal, so their entries say they were refused at proposal."""
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        issued = await registry.ok(_issue(acc["issuance"], 100))
        (block,) = issued["blocks"]
        wanted = {"scope": SCOPE, "first": block["first"] + 10, "last": block["first"] + 29}
        explicit = {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["holding"],
            "units": {"ranges": [wanted]},
        }
        responses = await asyncio.gather(*(registry.propose(explicit) for _ in range(8)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 7, [r.text for r in responses]
        codes = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
        assert set(codes) <= {"units_reserved", "range_not_held"}, codes
        assert "units_reserved" in codes, "the proposals that came while the first awaited its verdict"
        assert await registry.balance(acc["holding"]) == 20
        assert await registry.balance(acc["issuance"]) == 80
        journal = (await registry.get(registry.ledger, "/journal?limit=1000"))["items"]
        reserved = [
            e["body"] for e in journal if e["body"].get("result", {}).get("error", {}).get("code") == "units_reserved"
        ]
        assert reserved and all(b["refused_at"] == "proposal" for b in reserved)
        # Refused after the built-in rules passed, each names them as applied, as the recorded
        # transfer does beside its verdict's rules (A6R-48 e).
        transfers = [e["body"] for e in journal if e["kind"] == "transfer_units"]
        (recorded,) = [b for b in transfers if b["outcome"] == "recorded"]
        builtin = [r for r in recorded["rules_applied"] if r.startswith("builtin.")]
        assert builtin and all(b["rules_applied"] == builtin for b in reserved), (builtin, reserved[0])
        # Each names the serials and the transaction holding them (A6R-47), and how to go on.
        (holder,) = [r.json()["transaction_id"] for r in responses if r.status_code == 201]
        held = f"serials {wanted['first']}-{wanted['last']} of CHE01/GHA/GH-COOK-001/2024/tCO2e by {holder}"
        assert all(held in b["result"]["error"]["message"] for b in reserved), reserved[0]["result"]
        assert all("under a new transaction id" in b["result"]["error"]["message"] for b in reserved)

    await _replays_to_the_live_state(infra, database_url, monkeypatch)


async def test_a6r38_proposals_carry_their_units_issuance_metadata_read_once_per_issuance(
    service_settings, database_url, monkeypatch
) -> None:
    """What rules look at besides the serial scope (cooperative approach, first transferring Party,
    sectors, activity types) travels with every proposal. Issuance records never change, so the
    writer reads an issuance's metadata once and keeps it: later proposals from the same issuance
    read nothing, and the metadata they carry is still the issuance's. Two issuances' units in
    one transfer each keep their own."""
    reads: list[list[int]] = []
    issuance_metadata = LedgerRepository.issuance_metadata

    async def counting(self: LedgerRepository, ids: Any) -> Any:
        reads.append(list(ids))
        return await issuance_metadata(self, ids)

    monkeypatch.setattr(LedgerRepository, "issuance_metadata", counting)
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        cooking = {**_issue(acc["issuance"], 10), "sectors": ["energy"], "activity_types": ["energy_efficiency"]}
        await registry.ok(cooking)
        await registry.ok({**_issue(acc["issuance"], 100), "first_transferring_party": "CHE", "sectors": ["waste"]})
        # A6R-52 takes the smaller block first: the first transfer takes all ten cookstove units and five more.
        for quantity in (15, 5, 5):
            await registry.ok(_transfer(acc["issuance"], acc["holding"], quantity))
        submitted = await _scalar(
            database_url,
            "SELECT convert_from(body, 'UTF8')::jsonb -> 'payload' -> 'units' FROM outbox "
            "WHERE event_type = 'rules.ProposalSubmitted' AND convert_from(body, 'UTF8')::jsonb "
            "-> 'payload' ->> 'command' = 'transfer_units' ORDER BY id",
        )
    described = [
        [(u["first"], u["last"], u["first_transferring_party"], u["sectors"], u["activity_types"]) for u in units]
        for units in submitted
    ]
    assert described == [
        [(1, 10, "GHA", ["energy"], ["energy_efficiency"]), (11, 15, "CHE", ["waste"], [])],
        [(16, 20, "CHE", ["waste"], [])],
        [(21, 25, "CHE", ["waste"], [])],
    ]
    # Both issuances were read once, by the first transfer; the other two read nothing.
    assert reads == [[1, 2]]


async def _open(registry: Registry, type_: str, section: str | None = None) -> str:
    opened = await registry.ok({"kind": "open_account", "holder": type_, "section": section, "type": type_})
    status = {"kind": "change_account_status", "account": opened["account"], "status": "active", "reason": "t"}
    await registry.ok(status)
    return str(opened["account"])


async def _share_rule(registry: Registry, name: str, when: str, kind: str, to_account: str) -> None:
    """A rule taking 10% of what `when` transactions deliver to `to_account`, bound registry-wide."""
    operation = {
        "kind": kind,
        "take_from": "destination",
        "to_account": f"'{to_account}'",
        "share": "0.1",
        "rounding": "floor",
        "reason": name,
    }
    version = {"expression": when, "effect": {"type": "supplementary", "operations": [operation]}}
    await registry.rules_ok("POST", f"/rules/{name}/versions", version)
    await registry.rules_ok("POST", "/bindings", {"rule": name, "target_type": "registry", "target": "*"})


def _external_out(source: str, quantity: int) -> dict[str, Any]:
    return {
        "kind": "external_transfer_out",
        "source": source,
        "destination_registry": "CHE01",
        "destination_account": "CH-123",
        "units": {"selection": {"quantity": quantity}},
    }


async def test_a6r54_no_supplementary_operation_takes_units_out_of_the_proxy_account(service_settings) -> None:
    """Units sent to another registry sit in the proxy account as the record that they are there
    now: the pack's commission does not fire on external transfers, and no rule's share is ever
    planned from the proxy (the same serials would be in two registries). The ledger's own refusal
    of such a verdict, `supplementary_from_proxy`, is tested in its unit tests."""
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        proxy = await _open(registry, "proxy")
        await registry.ok(_issue(acc["issuance"], 1000))
        await registry.rules_ok("POST", "/packs/article6-basic")
        commission = {"fee_account": acc["adaptation"], "share": "0.5"}
        binding = {"rule": "registry-commission", "target_type": "registry", "target": "*", "params": commission}
        await registry.rules_ok("POST", "/bindings", binding)

        sent = await registry.ok(_external_out(acc["issuance"], 100))
        assert sent["supplementary"] == []
        assert (await registry.balance(proxy), await registry.balance(acc["adaptation"])) == (100, 0)

        await _share_rule(registry, "proxy-fee", 'proposal.kind == "external_transfer_out"', "transfer", acc["holding"])
        again = await registry.ok(_external_out(acc["issuance"], 100))
        assert again["supplementary"] == []
        assert [await registry.balance(a) for a in (proxy, acc["holding"], acc["issuance"])] == [200, 0, 800]


async def test_a6r38_a_cancellation_operation_goes_to_a_cancellation_account(
    service_settings, infra, database_url, monkeypatch
) -> None:
    """A supplementary operation of kind cancellation to an account that is not a cancellation
    account rejects the transaction; to a cancellation account, it is recorded."""
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        cancellation = await _open(registry, "cancellation", "GHA")
        await registry.ok(_issue(acc["issuance"], 1000))
        await _share_rule(
            registry, "cancel-to-holding", 'proposal.kind == "transfer"', "cancellation", acc["adaptation"]
        )
        refused = await registry.propose(_transfer(acc["issuance"], acc["holding"], 100))
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "cancellation_not_to_cancellation_account"
        assert await registry.balance(acc["adaptation"]) == 0 and await registry.balance(acc["holding"]) == 0

        await registry.rules_ok("POST", "/rules/cancel-to-holding/suspension", {"reason": "wrong account"})
        await _share_rule(registry, "cancel-properly", 'proposal.kind == "transfer"', "cancellation", cancellation)
        moved = await registry.ok(_transfer(acc["issuance"], acc["holding"], 100))
        (op,) = moved["supplementary"]
        assert (op["kind"], op["to_account"], op["quantity"]) == ("cancellation", cancellation, 10)
        assert await registry.balance(cancellation) == 10 and await registry.balance(acc["holding"]) == 90

        # A6R-55 a: reversed, the transfer's serials come back from wherever it put them, the
        # cancelled ones too (before, it could never be reversed: "units moved on").
        reversal = {"kind": "corrective_transfer", "correction": "reversal", "reason": "entered in error"}
        back = await registry.ok({**reversal, "corrects": moved["transaction_id"]})
        assert back["quantity"] == 100 and back["returned_from"] == [acc["holding"], cancellation]
        assert "builtin.account_type.send@1" in back["broken_rules"], "a cancellation account sends nothing"
        balances = [await registry.balance(a) for a in (cancellation, acc["holding"], acc["issuance"])]
        assert balances == [0, 0, 1000]
    await _replays_to_the_live_state(infra, database_url, monkeypatch)


async def test_a6r55_a_reversal_takes_back_two_shares_paid_into_one_account_and_leaves_one_paid_to_the_source(
    service_settings, infra, database_url, monkeypatch
) -> None:
    """Two supplementary operations pay shares into one account, whose serials join into one block
    there, and a third pays a share back to the transfer's source. The reversal takes back both
    shares in one leg (before rule set 6, one leg each: the second found its block retired, and the
    transfer could never be reversed) and leaves the source's share where it is."""
    async with running(service_settings, with_rules=True) as registry:
        acc = await _accounts(registry)
        other = await _open(registry, "holding", "GHA")
        await registry.ok(_issue(acc["issuance"], 1000))
        await registry.ok(_transfer(acc["issuance"], acc["holding"], 200))
        to_others = f'proposal.kind == "transfer" && proposal.destination.number == "{other}"'
        await _share_rule(registry, "share-a", to_others, "transfer", acc["adaptation"])
        await _share_rule(registry, "share-b", to_others, "transfer", acc["adaptation"])
        await _share_rule(registry, "share-back", to_others, "transfer", acc["holding"])
        moved = await registry.ok(_transfer(acc["holding"], other, 100))
        assert sorted((op["to_account"], op["quantity"]) for op in moved["supplementary"]) == sorted(
            [(acc["adaptation"], 10), (acc["adaptation"], 10), (acc["holding"], 10)]
        )
        assert [await registry.balance(a) for a in (acc["holding"], other, acc["adaptation"])] == [110, 70, 20]

        reversal = {"kind": "corrective_transfer", "correction": "reversal", "reason": "entered in error"}
        back = await registry.ok({**reversal, "corrects": moved["transaction_id"]})
        assert back["quantity"] == 90 and back["returned_from"] == [other, acc["adaptation"]]
        assert [await registry.balance(a) for a in (acc["holding"], other, acc["adaptation"])] == [200, 0, 0]
        # Who may see the shares' account sees the reversal that took them back (A6R-23, A6R-30):
        # its balance fell, and before, no transaction they could see said why.
        viewer = issue_token(KEY, "vera", [Grant("account_viewer", section="GHA", account=acc["adaptation"])])
        headers = {"Authorization": f"Bearer {viewer}"}
        ledger = registry.ledger
        listed = await registry.http.get(f"{ledger}/transactions?account={acc['adaptation']}", headers=headers)
        assert back["transaction_id"] in [t["transaction_id"] for t in listed.json()["items"]], listed.text
        shown = await registry.http.get(f"{ledger}/transactions/{back['transaction_id']}", headers=headers)
        assert shown.status_code == 200, shown.text
    await _replays_to_the_live_state(infra, database_url, monkeypatch)


async def _incoming_with_a_proxy(registry: Registry, destination: str, scope: dict[str, Any]) -> dict[str, Any]:
    """Opens the registry's proxy account; returns an incoming transfer of serials 1-10 of `scope`."""
    proxy = await registry.ok({"kind": "open_account", "holder": "registry", "section": None, "type": "proxy"})
    activate = {"kind": "change_account_status", "account": proxy["account"], "status": "active", "reason": "t"}
    await registry.ok(activate)
    block = {"scope": scope, "first": 1, "last": 10, "first_transferring_party": scope["issuing_party"]}
    return {
        "kind": "external_transfer_in",
        "origin_registry": "CHE01",
        "origin_account": "CH-1",
        "destination": destination,
        "blocks": [block],
    }


async def test_a6r54_an_incoming_transfer_awaiting_its_verdict_reserves_a_new_scope_s_serials_by_its_key(
    service_settings, database_url
) -> None:
    """Units new to this registry are generated, in the proposal step, in a savepoint rolled back
    after it: their scope's id is handed out again to the next new scope. Before, the proposal
    reserved its serials under that id, so another scope's units were held from other proposals
    until the incoming transfer was decided. It reserves the serials it generates by the scope
    itself (its key), as an issuance does."""
    async with running(service_settings, with_rules=False, deadline=3.0) as registry:
        acc = await _accounts(registry)
        foreign = {**SCOPE, "activity_id": "CH-HEAT-7", "issuing_party": "CHE"}
        incoming = await _incoming_with_a_proxy(registry, acc["holding"], foreign)
        service = gateway_token()
        tx = uuid.uuid4()
        waiting = asyncio.create_task(
            registry.http.put(
                f"{registry.ledger}/transactions/{tx}", json=incoming, headers={"Authorization": f"Bearer {service}"}
            )
        )
        reserved: list[Any] = []
        for _ in range(100):
            reserved = await _scalar(database_url, f"SELECT reserved FROM proposals WHERE id = '{tx}'")
            if reserved:
                break
            await asyncio.sleep(0.02)
        key = ["CHE01", "CHE", "CH-HEAT-7", 2024, "tCO2e"]
        assert reserved == [{"moved": [], "generated": [[key, 1, 10]]}], (await waiting).text
        assert (await waiting).json()["error"]["code"] == "no_verdict"


async def test_a6r54_serials_an_incoming_transfer_generates_are_reserved_against_issuances_and_a_second_arrival(
    service_settings, database_url
) -> None:
    """While an incoming transfer that generates serials awaits its verdict, those serials are
    promised to it: the same units arriving again under another transaction id are refused at once
    (`units_reserved`), and an issuance of the scope takes the serials after them. Before, both
    were accepted and the second decided was refused then (`overlapping_range`)."""
    # The deadline is just under the PUT's wait for a decision (5 s), so both answer with it.
    async with running(service_settings, with_rules=False, deadline=4.5) as registry:
        acc = await _accounts(registry)
        incoming = await _incoming_with_a_proxy(registry, acc["holding"], SCOPE)
        gateway = {"Authorization": f"Bearer {gateway_token()}"}
        first = uuid.uuid4()
        waiting = asyncio.create_task(
            registry.http.put(f"{registry.ledger}/transactions/{first}", json=incoming, headers=gateway)
        )
        for _ in range(100):
            if await _scalar(database_url, f"SELECT 1 FROM proposals WHERE id = '{first}'"):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError((await waiting).text)
        url = f"{registry.ledger}/transactions/{uuid.uuid4()}"
        again = await registry.http.put(url, json=incoming, headers=gateway)
        assert again.status_code == 409 and again.json()["error"]["code"] == "units_reserved", again.text
        issuance = uuid.uuid4()
        issuing = asyncio.create_task(
            registry.http.put(
                f"{registry.ledger}/transactions/{issuance}", json=_issue(acc["issuance"], 5), headers=_headers()
            )
        )
        reserved: list[Any] = []
        for _ in range(100):
            reserved = await _scalar(database_url, f"SELECT reserved FROM proposals WHERE id = '{issuance}'")
            if reserved:
                break
            await asyncio.sleep(0.02)
        assert not waiting.done(), "the incoming transfer was decided before the issuance was proposed"
        assert [r["generated"][0][1:] for r in reserved] == [[11, 15]], (await issuing).text
        assert (await waiting).json()["error"]["code"] == "no_verdict"
        assert (await issuing).json()["error"]["code"] == "no_verdict"
