"""A hypothesis state machine against the running ledger (A6R-40, A6R-44, A6R-52, A6R-55, A6R-41, A6R-37).

Random issuances (A6R-40, A6R-44 a), implicit (A6R-52) and explicit transfers (A6R-44 b),
reversals and administrative corrections (A6R-55) and account status changes (A6R-41) go to the
ledger over real HTTP with verified tokens. A plain Python model (who holds which serials, what
was issued, each account's status) predicts every answer: 201, or the exact refusal code and its
4xx status. After every step, direct SQL on the test database checks the ledger's invariants:

1. per serial scope, the units issued equal the units in live blocks;
2. no two live blocks of one scope overlap;
3. the live blocks of a scope exactly partition the union of its issuances, so every issued unit
   is in exactly one account; the `holdings` projection equals the unretired `unit_blocks`;
4. a refused operation changed nothing (holdings, statuses, record counts), and is stored as
   rejected with its code;
5. the model's view of who holds what, and of each account's status, is the ledger's;
6. no account holds two touching blocks of one issuance (fragmentation is minimised, A6R-52).

Hypothesis' stateful runner is synchronous, so it runs in a worker thread and each HTTP call
is scheduled on the test's event loop, where the ledger itself is served. Every example opens
its own accounts and issues in its own serial scopes, so examples do not interfere: (1)-(3) and
(6) are checked on the example's scopes after each step and over the whole database at the end.
An implicit transfer must move exactly the ranges A6R-52 picks (`plan_selection` over the
source's eligible live blocks, ranked by size, first serial, block id), read before the step.
Run with `-s` to see how often each kind of operation was recorded or refused with which code.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter, defaultdict
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from ledger.domain.selection import plan_selection
from registry_platform.auth import Grant
from registry_platform.testing.soak import soak_size

from .conftest import SCOPE, LedgerClient, setup_registry

pytestmark = pytest.mark.integration

T = TypeVar("T")

REGISTRY = "CHE01"
APPROACH = "CA0001"
# 20 examples of 30 steps under `make test`; `make soak` runs hundreds.
# No shrinking: every shrink attempt replays a whole example against the live ledger, and a failing
# run would take many minutes. The failing example is printed step by step with what the model
# expected (`note`); add Phase.shrink to `phases` locally to minimise it.
SETTINGS = settings(
    max_examples=soak_size("examples", 20),
    stateful_step_count=soak_size("steps", 30),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# The ledger serves on the event loop's thread while hypothesis draws in another; anything there
# that touches the global `random` (retry jitter, ...) trips hypothesis' check on strategies.
RANDOM_WARNING = "ignore:Do not use the `random` module inside strategies"

# Roles as the ledger derives them from the verified grants (A6R-37 c).
ADMIN, SECTION, HOLDER = "registry_administrator", "section_administrator", "account_holder"
TRANSFER_INITIATORS = {ADMIN, SECTION, HOLDER}
SENDERS = {"issuance", "holding", "proxy"}
RECEIVERS = {"holding", "use_ndc", "use_oimp", "cancellation", "proxy"}
CORRECTIVE_SENDERS = SENDERS | {"administrative_holding"}
CORRECTIVE_RECEIVERS = RECEIVERS | {"administrative_holding", "administrative_cancellation"}

# Refusal codes whose HTTP status is not the default 409 (refused by the registry's state).
HTTP_STATUS = {
    "not_authorized": 403,
    "correction_not_permitted": 403,
    "status_change_not_permitted": 403,
    "unknown_transaction": 404,
    "wrong_destination_type": 422,
}

ACCOUNTS = [
    ("iss_gha", "GHA", "issuance"),
    ("iss_che", "CHE", "issuance"),
    ("gha_hold", "GHA", "holding"),
    ("che_hold", "CHE", "holding"),
    ("che_use", "CHE", "use_ndc"),
    ("adm_cancel", None, "administrative_cancellation"),
    ("adm_hold", None, "administrative_holding"),
]
# Weighted towards accounts that can send or receive, with a few that the rules refuse.
SOURCES = ["iss_gha", "gha_hold", "iss_che", "che_hold", "iss_gha", "gha_hold", "iss_che", "che_hold", "che_use"]
DESTINATIONS = ["che_hold", "gha_hold", "che_use", "che_hold", "gha_hold", "che_use", "iss_gha", "adm_cancel"]
INACTIVE = ("restricted", "suspended", "frozen")
STATUSES = ["active", "active", "active", "restricted", "suspended", "suspended", "frozen", "terminated", "initial"]

ScopeKey = tuple[str, str, int]  # issuing Party, activity id, vintage
Interval = tuple[int, int, str]  # first serial, last serial, account number


class Row(NamedTuple):
    block_id: int
    account: str
    party: str
    activity: str
    vintage: int
    approach: str | None
    first: int
    last: int

    @property
    def scope(self) -> ScopeKey:
        return (self.party, self.activity, self.vintage)

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Snapshot:
    """What a refused operation must leave untouched."""

    holdings: tuple[Row, ...]
    statuses: tuple[tuple[str, str], ...]
    counts: tuple[int, ...]


@dataclass
class Acct:
    name: str
    number: str
    party: str | None
    type: str
    status: str = "active"


@dataclass(frozen=True)
class Violation:
    ref: str
    code: str
    overridable: bool = True


@dataclass
class Logged:
    tx: uuid.UUID
    kind: str
    outcome: str
    body: dict[str, Any]


@dataclass
class Env:
    ledger: LedgerClient
    loop: asyncio.AbstractEventLoop
    db: psycopg.Connection[Any]
    examples: itertools.count[int] = field(default_factory=itertools.count)
    # (command kind, outcome) -> how often, printed at the end to show what the run covered.
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the test's event loop (where the ledger is served) from this thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)


# -- SQL views of the ledger's state ----------------------------------------------------------


def snapshot(db: psycopg.Connection[Any]) -> Snapshot:
    holdings = tuple(
        Row(*r)
        for r in db.execute(
            "SELECT h.block_id, h.account_number, s.issuing_party, s.activity_id, s.vintage, i.cooperative_approach, "
            "h.first_serial, h.last_serial FROM holdings h JOIN serial_scopes s ON s.id = h.scope_id "
            "JOIN issuances i ON i.id = h.issuance_id ORDER BY h.block_id"
        )
    )
    statuses = tuple(db.execute("SELECT number, status FROM accounts ORDER BY number").fetchall())
    counts = db.execute(
        "SELECT (SELECT count(*) FROM issuances), (SELECT count(*) FROM unit_blocks), "
        "(SELECT count(*) FROM block_retirements), (SELECT count(*) FROM serial_scopes), "
        "(SELECT count(*) FROM account_events), (SELECT count(*) FROM accounts)"
    ).fetchone()
    assert counts is not None
    return Snapshot(holdings, statuses, tuple(counts))


def merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of serial ranges as maximal disjoint runs."""
    out: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def check_invariants(db: psycopg.Connection[Any], activities: list[str] | None = None) -> None:
    """Invariants (1)-(3) and (6) over the serial scopes of `activities`, or over all of them.

    After each step only the example's own scopes are checked, so that hypothesis, replaying a
    failing example, meets the same state as when it found it; the test ends with a global check."""
    scopes = [
        r[0]
        for r in db.execute(
            "SELECT id FROM serial_scopes WHERE %s::text[] IS NULL OR activity_id = ANY(%s)", (activities, activities)
        )
    ]
    issued: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for scope_id, first, last in db.execute(
        "SELECT scope_id, first_serial, last_serial FROM issuances WHERE scope_id = ANY(%s)", (scopes,)
    ):
        issued[scope_id].append((first, last))
    live: dict[int, list[tuple[int, int]]] = defaultdict(list)
    holdings = db.execute(
        "SELECT h.block_id, h.account_number, h.scope_id, h.first_serial, h.last_serial, i.scope_id, "
        "i.first_serial, i.last_serial, h.issuance_id FROM holdings h JOIN issuances i ON i.id = h.issuance_id "
        "WHERE h.scope_id = ANY(%s) OR i.scope_id = ANY(%s) ORDER BY h.scope_id, h.first_serial",
        (scopes, scopes),
    ).fetchall()
    for _, _, scope_id, first, last, issuance_scope, issued_first, issued_last, _ in holdings:
        assert scope_id == issuance_scope, f"block {first}-{last} is filed under another scope than its issuance"
        assert issued_first <= first <= last <= issued_last, f"block {first}-{last} lies outside its issuance"
        live[scope_id].append((first, last))
    for scope_id in issued.keys() | live.keys():
        issuances, blocks = sorted(issued[scope_id]), sorted(live[scope_id])
        # (1) issued = sum of live blocks.
        issued_units = sum(last - first + 1 for first, last in issuances)
        live_units = sum(last - first + 1 for first, last in blocks)
        assert issued_units == live_units, f"scope {scope_id}: {issued_units} issued, {live_units} in live blocks"
        # (2) no two live blocks overlap (nor two issuances).
        for a, b in itertools.pairwise(blocks):
            assert a[1] < b[0], f"scope {scope_id}: live blocks {a} and {b} overlap"
        for a, b in itertools.pairwise(issuances):
            assert a[1] < b[0], f"scope {scope_id}: issuances {a} and {b} overlap"
        # (3) the live blocks partition the issued serials: with (2), each unit is in exactly one block.
        assert merged(blocks) == merged(issuances), f"scope {scope_id}: live blocks do not cover the issued serials"
    # (6) A6R-52 asks registries to minimise fragmentation: the ledger joins a block arriving in an
    # account with the touching blocks of the same issuance there, so none are ever adjacent.
    for a, b in itertools.pairwise(holdings):
        assert not (a[1] == b[1] and a[8] == b[8] and a[4] + 1 == b[3]), f"blocks {a[:5]} and {b[:5]} were not joined"
    unretired = db.execute(
        "SELECT b.id, b.account_number, i.scope_id, b.first_serial, b.last_serial FROM unit_blocks b "
        "JOIN issuances i ON i.id = b.issuance_id WHERE i.scope_id = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM block_retirements r WHERE r.block_id = b.id) ORDER BY b.id",
        (scopes,),
    ).fetchall()
    projection = sorted(tuple(h[:5]) for h in holdings)
    assert [tuple(r) for r in unretired] == projection, "holdings is not the projection of unretired blocks"


# -- the model's rules (A6R-37, A6R-41) --------------------------------------------------------


def principal(kind: str, account: Acct) -> tuple[list[Grant], str]:
    """Grants for an initiator of the given kind, relative to the account acted on."""
    if kind == "admin":
        return [Grant("registry_administrator")], "admin"
    if kind == "section":
        party = account.party or "GHA"
        return [Grant("section_administrator", section=party)], f"section-admin-{party}"
    if kind == "other_section":
        party = "CHE" if account.party == "GHA" else "GHA"
        return [Grant("section_administrator", section=party)], f"section-admin-{party}"
    if kind == "holder":
        # As identity issues it: the account and its section.
        return [Grant("account_initiator", section=account.party, account=account.number)], f"rep-{account.number}"
    assert kind == "stranger"
    return [Grant("account_initiator", section="GHA", account="XXX-1")], "stranger"


def role_for(grants: list[Grant], account: Acct) -> str | None:
    if any(g.role == "registry_administrator" for g in grants):
        return ADMIN
    if account.party is not None and any(
        g.role == "section_administrator" and g.section in (None, account.party) for g in grants
    ):
        return SECTION
    if any(g.role == "account_initiator" and g.account in (None, account.number) for g in grants):
        return HOLDER
    return None


def correction_role(grants: list[Grant]) -> str:
    """Corrections (A6R-55) count only registry administrators; anyone else is a plain holder."""
    return ADMIN if any(g.role == "registry_administrator" for g in grants) else HOLDER


def may_initiate(status: str, role: str) -> bool:
    return status == "active" or (status == "restricted" and role == ADMIN)


def transfer_violations(src: Acct, dst: Acct, role: str, correction: bool) -> list[Violation]:
    v: list[Violation] = []
    if src.number == dst.number:
        v.append(Violation("builtin.account.distinct@1", "same_account", overridable=False))
    for account in (src, dst):
        if account.status == "terminated":
            v.append(Violation("builtin.account_status.terminated@1", "account_terminated", overridable=False))
    if src.type not in (CORRECTIVE_SENDERS if correction else SENDERS):
        v.append(Violation("builtin.account_type.send@1", "account_type_cannot_send"))
    if dst.type not in (CORRECTIVE_RECEIVERS if correction else RECEIVERS):
        v.append(Violation("builtin.account_type.receive@1", "account_type_cannot_receive"))
    for ref, account in (("builtin.account_status.source@1", src), ("builtin.account_status.destination@1", dst)):
        if account.status != "terminated" and not may_initiate(account.status, role):
            v.append(Violation(ref, "wrong_status"))
    if role not in TRANSFER_INITIATORS:
        v.append(Violation("builtin.authorization@1", "not_authorized"))
    return v


def enforced(violations: list[Violation], correction: bool, role: str) -> tuple[str | None, list[str]]:
    """The refusal code, or None and the rules a correction records as broken."""
    if not correction:
        return (violations[0].code if violations else None), []
    if role != ADMIN:
        return "correction_not_permitted", []
    for violation in violations:
        if not violation.overridable:
            return violation.code, []
    return None, [violation.ref for violation in violations]


def issuance_refusal(account: Acct, role: str) -> str | None:
    if account.status == "terminated":
        return "account_terminated"
    if account.type != "issuance":
        return "account_type_cannot_generate"
    if not may_initiate(account.status, role):
        return "wrong_status"
    if role not in (SECTION, ADMIN):
        return "not_authorized"
    return None


def status_refusal(account: Acct, new: str, role: str | None, balance: int) -> str | None:
    if role is None:
        return "not_authorized"
    if account.status == "terminated":
        return "account_terminated"
    if new == account.status:
        return "status_unchanged"
    frozen_involved = "frozen" in (account.status, new)
    permitted = new != "initial" and (
        role == ADMIN or (role == SECTION and account.party is not None and not frozen_involved)
    )
    if not permitted:
        return "status_change_not_permitted"
    if new == "terminated" and balance > 0:
        return "account_not_empty"
    return None


# -- serial ownership, as maximal runs of one owner per scope ---------------------------------


def normalized(items: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for first, last, owner in sorted(items):
        if out and out[-1][2] == owner and out[-1][1] + 1 == first:
            out[-1] = (out[-1][0], last, owner)
        else:
            out.append((first, last, owner))
    return out


def reassign(items: list[Interval], first: int, last: int, owner: str) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi, o in items:
        if hi < first or lo > last:
            out.append((lo, hi, o))
            continue
        if lo < first:
            out.append((lo, first - 1, o))
        out.append((max(lo, first), min(hi, last), owner))
        if hi > last:
            out.append((last + 1, hi, o))
    return normalized(out)


def held_by(items: list[Interval], first: int, last: int, owner: str) -> bool:
    covered = first
    for lo, hi, o in items:
        if hi < covered:
            continue
        if lo > covered or o != owner:
            return False
        covered = hi + 1
        if covered > last:
            return True
    return False


def scope_json(key: ScopeKey) -> dict[str, Any]:
    return {"originating_registry": REGISTRY, "issuing_party": key[0], "activity_id": key[1], "vintage": key[2]}


def scope_of(block: dict[str, Any]) -> ScopeKey:
    s = block["scope"]
    return (s["issuing_party"], s["activity_id"], s["vintage"])


def eligible(key: ScopeKey, selection: dict[str, Any]) -> bool:
    party, activity, vintage = key
    return (
        selection.get("issuing_party", party) == party
        and selection.get("activity_id", activity) == activity
        and selection.get("vintage_from", vintage) <= vintage <= selection.get("vintage_to", vintage)
    )


class LedgerStateMachine(RuleBasedStateMachine):
    """A6R-40/44/52/55: random operations on the running ledger, each answer predicted."""

    def __init__(self, env: Env) -> None:
        super().__init__()
        self.env = env
        n = next(env.examples)
        self.scopes: list[ScopeKey] = [
            ("GHA", f"SM{n:04d}-COOK", 2021),
            ("GHA", f"SM{n:04d}-SOLAR", 2023),
            ("CHE", f"SM{n:04d}-HEAT", 2022),
        ]
        self.accounts: dict[str, Acct] = {}
        self.owner: dict[ScopeKey, list[Interval]] = {k: [] for k in self.scopes}
        self.issued: dict[ScopeKey, list[tuple[int, int, str | None]]] = {k: [] for k in self.scopes}
        self.log: list[Logged] = []
        # Transfers already reversed: a second reversal is refused (A6R-55).
        self.reversed: set[str] = set()

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def db(self) -> psycopg.Connection[Any]:
        return self.env.db

    def by_number(self, number: str) -> Acct:
        return next(a for a in self.accounts.values() if a.number == number)

    def still_held(self, transfer: Logged) -> bool:
        """Whether the destination of a recorded transfer still holds every serial it received."""
        return all(
            held_by(self.owner[scope_of(b)], b["first"], b["last"], transfer.body["destination"])
            for b in transfer.body["blocks"]
        )

    def balance(self, account: Acct) -> int:
        return sum(hi - lo + 1 for items in self.owner.values() for lo, hi, o in items if o == account.number)

    def submit(
        self, command: dict[str, Any], grants: list[Grant], subject: str, expected: str | None, before: Snapshot
    ) -> dict[str, Any]:
        """Propose `command`; check the answer against `expected` (None: recorded) and, when the
        ledger refuses, that nothing changed (invariant 4)."""
        note(f"{command} by {subject}: expecting {expected or 'recorded'}")
        tx = uuid.uuid4()
        response = self.env.call(self.env.ledger.propose(command, grants=grants, subject=subject, tx=tx))
        assert response.status_code < 500, f"{response.status_code}: {response.text}"
        after = snapshot(self.db)
        body: dict[str, Any] = response.json()
        stored = self.db.execute("SELECT outcome, result FROM transactions WHERE id = %s", (tx,)).fetchone()
        if expected is None:
            assert response.status_code == 201, f"expected recorded, got {response.status_code}: {response.text}"
            assert stored is not None and stored[0] == "recorded"
        else:
            code = body.get("error", {}).get("code")
            status = HTTP_STATUS.get(expected, 409)
            assert (response.status_code, code) == (status, expected), (
                f"expected {status} {expected}, got {response.status_code}: {response.text}"
            )
            assert stored is not None and stored[0] == "rejected" and stored[1]["error"]["code"] == expected
        if 400 <= response.status_code < 500:
            assert after == before, f"refused with {response.status_code}, yet the ledger changed"
        outcome = "recorded" if expected is None else "rejected"
        label = command.get("correction") or command["kind"]
        self.env.seen[(label, expected or "recorded")] += 1
        self.log.append(Logged(tx, command["kind"], outcome, body))
        return body

    def draw_account(self, data: st.DataObject, names: list[str], label: str) -> Acct:
        return self.accounts[data.draw(st.sampled_from(names), label=label)]

    def usable(self, names: Iterable[str], *, statuses: Iterable[str] = ("active",), funded: bool = False) -> list[str]:
        """The accounts among `names` in one of `statuses` (and holding units, with `funded`)."""
        return [
            n
            for n in names
            if self.accounts[n].status in statuses and (not funded or self.balance(self.accounts[n]) > 0)
        ]

    def draw_initiator(self, data: st.DataObject, account: Acct, kinds: list[str]) -> tuple[list[Grant], str]:
        return principal(data.draw(st.sampled_from(kinds), label="initiator"), account)

    def draw_selection(self, data: st.DataObject, source: Acct, before: Snapshot, valid: bool) -> dict[str, Any]:
        """An implicit selection (A6R-52): random constraints, and a quantity that is often just
        a block's size, exactly what is eligible, or one more; `valid`: at most what is eligible."""
        selection: dict[str, Any] = {}
        options: dict[str, list[Any]] = {
            "issuing_party": ["GHA", "CHE"],
            "activity_id": [k[1] for k in self.scopes] + ["NO-SUCH-ACTIVITY"],
            "vintage_from": [2021, 2022, 2023],
            "vintage_to": [2021, 2022, 2023],
            "cooperative_approach": [APPROACH],
        }
        held = [k for k, items in self.owner.items() if any(o == source.number for _, _, o in items)]
        if valid and held:
            # Constraints that some units of the source satisfy.
            party, activity, vintage = data.draw(st.sampled_from(held), label="aim at scope")
            options = {
                "issuing_party": [party],
                "activity_id": [activity],
                "vintage_from": [vintage, 2021],
                "vintage_to": [vintage, 2023],
            }
        for name, values in options.items():
            value = data.draw(st.sampled_from([None, None, *values]), label=name)
            if value is not None:
                selection[name] = value
        sizes = [r.quantity for r in self.candidates(before, source, selection)]
        total = sum(sizes)
        if valid and total > 0:
            quantity = st.one_of(st.integers(1, total), st.sampled_from(sorted({*sizes, total})))
        else:
            quantity = st.one_of(st.integers(1, 600), st.sampled_from(sorted({*sizes, max(total, 1), total + 1})))
        selection["quantity"] = data.draw(quantity, label="quantity")
        return selection

    def candidates(self, before: Snapshot, source: Acct, selection: dict[str, Any]) -> list[Row]:
        """The source's eligible live blocks, in the order A6R-52 ranks them (size, first serial),
        ties between scopes broken by block id as the ledger does."""
        approach = selection.get("cooperative_approach")
        rows = [
            r
            for r in before.holdings
            if r.account == source.number
            and eligible(r.scope, selection)
            and (approach is None or r.approach == approach)
        ]
        return sorted(rows, key=lambda r: (r.quantity, r.first, r.block_id))

    def eligible_units(self, source: Acct, selection: dict[str, Any]) -> int:
        """From the model alone: how many units of the source satisfy the constraints."""
        approach = selection.get("cooperative_approach")
        total = 0
        for key, items in self.owner.items():
            if not eligible(key, selection):
                continue
            for lo, hi, o in items:
                if o != source.number:
                    continue
                if approach is None:
                    total += hi - lo + 1
                else:
                    total += sum(
                        max(0, min(hi, ihi) - max(lo, ilo) + 1) for ilo, ihi, ca in self.issued[key] if ca == approach
                    )
        return total

    def draw_ranges(
        self, data: st.DataObject, source: Acct, before: Snapshot, valid: bool
    ) -> list[tuple[ScopeKey, int, int]]:
        """Explicit ranges (A6R-52): sub-ranges of what the source holds (possibly across blocks),
        arbitrary ranges (often not held), or a range overlapping the previous one; `valid`: only
        held ones (two of them may still overlap)."""
        ranges: list[tuple[ScopeKey, int, int]] = []
        mine = [(k, lo, hi) for k, items in self.owner.items() for lo, hi, o in items if o == source.number]
        for _ in range(data.draw(st.integers(1, 2), label="range count")):
            modes = ["held"] if valid else ["held", "held", "any"] + (["overlap"] if ranges else [])
            mode = data.draw(st.sampled_from(modes), label="range mode")
            if mode == "held" and mine:
                key, lo, hi = data.draw(st.sampled_from(mine), label="held run")
                first = data.draw(st.integers(lo, hi), label="first")
                ranges.append((key, first, data.draw(st.integers(first, hi), label="last")))
            elif mode == "overlap":
                key, lo, hi = ranges[0]
                first = data.draw(st.integers(lo, hi), label="first")
                ranges.append((key, first, data.draw(st.integers(first, hi + 10), label="last")))
            else:
                key = data.draw(st.sampled_from(self.scopes), label="scope")
                highest = max((last for _, last, _ in self.issued[key]), default=0)
                first = data.draw(st.integers(1, highest + 20), label="first")
                ranges.append((key, first, data.draw(st.integers(first, first + 150), label="last")))
        return ranges

    def explicit_refusal(self, source: Acct, ranges: list[tuple[ScopeKey, int, int]]) -> str | None:
        seen: dict[ScopeKey, list[tuple[int, int]]] = defaultdict(list)
        for key, first, last in ranges:
            if not self.issued[key]:
                return "range_not_held"  # the scope does not exist yet
            if any(lo <= last and first <= hi for lo, hi in seen[key]):
                return "overlapping_range"
            seen[key].append((first, last))
            if not held_by(self.owner[key], first, last, source.number):
                return "range_not_held"
        return None

    def draw_units(
        self, data: st.DataObject, source: Acct, before: Snapshot, valid: bool, explicit: bool | None = None
    ) -> tuple[dict[str, Any], str | None, list[tuple[ScopeKey, int, int]]]:
        """Units of a transfer, the selection refusal the model predicts, and the ranges to move."""
        if explicit is None:
            explicit = data.draw(st.booleans(), label="explicit")
        if explicit:
            ranges = self.draw_ranges(data, source, before, valid)
            units = {"ranges": [{"scope": scope_json(k), "first": lo, "last": hi} for k, lo, hi in ranges]}
            return units, self.explicit_refusal(source, ranges), ranges
        selection = self.draw_selection(data, source, before, valid)
        quantity = selection["quantity"]
        if self.eligible_units(source, selection) < quantity:
            return {"selection": selection}, "insufficient_units", []
        candidates = self.candidates(before, source, selection)
        plan = plan_selection([r.quantity for r in candidates], quantity)
        moved = [(candidates[i].scope, candidates[i].first, candidates[i].first + n - 1) for i, n in plan]
        return {"selection": selection}, None, moved

    def move(self, destination: Acct, ranges: list[tuple[ScopeKey, int, int]], body: dict[str, Any]) -> None:
        """Apply a recorded transfer to the model, after checking what the ledger says it moved."""
        reported: dict[ScopeKey, list[tuple[int, int]]] = defaultdict(list)
        for block in body["blocks"]:
            assert block["account"] == destination.number
            reported[scope_of(block)].append((block["first"], block["last"]))
        requested: dict[ScopeKey, list[tuple[int, int]]] = defaultdict(list)
        for key, first, last in ranges:
            requested[key].append((first, last))
        assert {k: merged(v) for k, v in reported.items()} == {k: merged(v) for k, v in requested.items()}
        assert body["quantity"] == sum(last - first + 1 for _, first, last in ranges)
        for key, first, last in ranges:
            self.owner[key] = reassign(self.owner[key], first, last, destination.number)

    # -- rules -------------------------------------------------------------------------------

    @initialize(quantities=st.tuples(*[st.integers(1, 500)] * 3))
    def open_accounts(self, quantities: tuple[int, int, int]) -> None:
        ledger = self.env.ledger
        for name, section, type_ in ACCOUNTS:
            opened = self.env.call(
                ledger.ok({"kind": "open_account", "holder": name, "section": section, "type": type_})
            )
            number = opened["account"]
            self.env.call(
                ledger.ok({"kind": "change_account_status", "account": number, "status": "active", "reason": "test"})
            )
            self.accounts[name] = Acct(name, number, section, type_)
        # Every example starts with units in each of its scopes, so that transfers have material.
        for key, quantity in zip(self.scopes, quantities, strict=True):
            account = self.accounts[f"iss_{key[0].lower()}"]
            command = {
                "kind": "issue_units",
                "account": account.number,
                "scope": scope_json(key),
                "quantity": quantity,
                "first_transferring_party": key[0],
            }
            self.submit(command, *principal("admin", account), None, snapshot(self.db))
            self.issued[key].append((1, quantity, None))
            self.owner[key] = [(1, quantity, account.number)]

    @rule(data=st.data())
    def issue(self, data: st.DataObject) -> None:
        """A6R-40, A6R-44 a: issue in a scope; an explicit first serial may collide."""
        key = data.draw(st.sampled_from(self.scopes), label="scope")
        own = f"iss_{key[0].lower()}"
        account = self.draw_account(data, [own, own, own, own, own, "gha_hold"], "account")
        kinds = ["admin", "section", "admin", "section", "other_section", "holder"]
        grants, subject = self.draw_initiator(data, account, kinds)
        quantity = data.draw(st.integers(1, 500), label="quantity")
        highest = max((last for _, last, _ in self.issued[key]), default=0)
        first_serial = data.draw(st.one_of(st.none(), st.integers(1, highest + 100)), label="first_serial")
        approach = data.draw(st.sampled_from([None, APPROACH]), label="cooperative_approach")
        first = highest + 1 if first_serial is None else first_serial
        last = first + quantity - 1
        role = role_for(grants, account)
        expected = "not_authorized" if role is None else issuance_refusal(account, role)
        if expected is None and any(lo <= last and first <= hi for lo, hi, _ in self.issued[key]):
            expected = "overlapping_range"
        command: dict[str, Any] = {
            "kind": "issue_units",
            "account": account.number,
            "scope": scope_json(key),
            "quantity": quantity,
            "first_transferring_party": key[0],
        }
        if first_serial is not None:
            command["first_serial"] = first_serial
        if approach is not None:
            command["cooperative_approach"] = approach
        body = self.submit(command, grants, subject, expected, snapshot(self.db))
        if expected is None:
            assert [(b["first"], b["last"]) for b in body["blocks"]] == [(first, last)]
            self.issued[key].append((first, last, approach))
            self.owner[key] = normalized([*self.owner[key], (first, last, account.number)])

    @rule(data=st.data())
    def transfer_explicit(self, data: st.DataObject) -> None:
        """A6R-44 b, A6R-52: an explicit transfer of serial ranges."""
        self.transfer(data, explicit=True)

    @rule(data=st.data())
    def transfer_implicit(self, data: st.DataObject) -> None:
        """A6R-44 b, A6R-52: an implicit transfer, by constraints and a quantity."""
        self.transfer(data, explicit=False)

    def transfer(self, data: st.DataObject, explicit: bool) -> None:
        """A transfer by various initiators between various accounts."""
        before = snapshot(self.db)
        # "valid": well-formed between active accounts, which the model expects to be recorded;
        # "inactive": the same from a restricted, suspended or frozen account if there is one, to
        # any account but a terminated one (A6R-41: who may initiate); "random": anything goes.
        mode = data.draw(st.sampled_from(["valid", "valid", "inactive", "random"]), label="mode")
        statuses = ("active",) if mode == "valid" else ("active", *INACTIVE)
        funded = ["iss_gha", "iss_che", "gha_hold", "che_hold"]
        sources = self.usable(funded, funded=True)
        if mode == "inactive":
            sources = self.usable(funded, statuses=INACTIVE, funded=True) or sources
        valid = mode != "random" and bool(sources)
        if valid:
            source = self.draw_account(data, sources, "source")
            receivers = ("gha_hold", "che_hold", "che_use")
            destinations = self.usable((n for n in receivers if n != source.name), statuses=statuses)
            destination = self.draw_account(data, destinations or DESTINATIONS, "destination")
            kinds = ["admin", "holder", "section"]
        else:
            source = self.draw_account(data, SOURCES, "source")
            destination = self.draw_account(data, [*DESTINATIONS, *DESTINATIONS, source.name], "destination")
            kinds = ["admin", "holder", "section", "admin", "holder", "stranger"]
        grants, subject = self.draw_initiator(data, source, kinds)
        units, selection_refusal, ranges = self.draw_units(data, source, before, valid, explicit)
        role = role_for(grants, source)
        expected = (
            "not_authorized"
            if role is None
            else enforced(transfer_violations(source, destination, role, False), False, role)[0]
        )
        expected = expected or selection_refusal
        command = {"kind": "transfer_units", "source": source.number, "destination": destination.number, "units": units}
        body = self.submit(command, grants, subject, expected, before)
        if expected is None:
            assert body["source"] == source.number and body["destination"] == destination.number
            self.move(destination, ranges, body)

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        """A6R-55 a, c: reverse an earlier transfer or withholding; refused once its units moved on
        (the destination no longer holds every serial it received, wherever they went in between),
        and refused when it was reversed already."""
        before = snapshot(self.db)
        transfers = [t for t in self.log if t.kind == "transfer_units" and t.outcome == "recorded"]
        # Mostly a transfer whose units are all still where it put them; sometimes one whose
        # units moved on.
        aim = data.draw(st.sampled_from(["reversible", "reversible", "moved on", "any"]), label="aim")
        if aim != "any":
            transfers = [t for t in transfers if self.still_held(t) == (aim == "reversible")] or transfers
        pick = data.draw(
            st.sampled_from(["transfer", "transfer", "transfer", "transfer", "any", "unknown"]), label="target"
        )
        target: Logged | None = None
        if pick == "transfer" and transfers:
            target = data.draw(st.sampled_from(transfers), label="transfer")
        elif pick in ("any", "transfer") and self.log:
            target = data.draw(st.sampled_from(self.log), label="transaction")
        anchor = self.by_number(target.body["destination"]) if target and "destination" in target.body else None
        grants, subject = self.draw_initiator(
            data, anchor or self.accounts["gha_hold"], ["admin", "admin", "admin", "section", "holder"]
        )
        expected: str | None
        broken: list[str] = []
        # A withholding in administrative holding is released by reversing it (A6R-55 c).
        withholding = target is not None and target.body.get("correction") == "administrative_holding"
        if correction_role(grants) != ADMIN:
            # Before anything else (rule set 8): nothing is told of the transaction named.
            expected = "correction_not_permitted"
        elif target is None or target.outcome != "recorded" or not (target.kind == "transfer_units" or withholding):
            expected = "unknown_transaction"
        elif str(target.tx) in self.reversed:
            expected = "already_reversed"
        else:
            back_from, back_to = self.by_number(target.body["destination"]), self.by_number(target.body["source"])
            role = correction_role(grants)
            expected, broken = enforced(transfer_violations(back_from, back_to, role, True), True, role)
            if expected is None and not self.still_held(target):
                expected = "units_moved_on"
        corrects = str(target.tx) if target is not None else str(uuid.uuid4())
        command = {"kind": "corrective_transfer", "correction": "reversal", "corrects": corrects, "reason": "mistake"}
        body = self.submit(command, grants, subject, expected, before)
        if expected is None:
            assert target is not None
            assert body["broken_rules"] == broken and body["corrects"] == corrects
            ranges = [(scope_of(b), b["first"], b["last"]) for b in target.body["blocks"]]
            self.move(back_to, ranges, body)
            self.reversed.add(corrects)

    @rule(data=st.data())
    def administrative_correction(self, data: st.DataObject) -> None:
        """A6R-55 b, c: move units to administrative cancellation or holding."""
        before = snapshot(self.db)
        correction = data.draw(
            st.sampled_from(["administrative_cancellation", "administrative_holding"]), label="correction"
        )
        right = "adm_cancel" if correction == "administrative_cancellation" else "adm_hold"
        wrong = "adm_hold" if correction == "administrative_cancellation" else "adm_cancel"
        # Half the time one the model expects to be recorded: an administrator corrects a funded
        # account whatever its status (the rules it breaks are recorded, A6R-55).
        valid = data.draw(st.booleans(), label="well-formed")
        everything = ("active", "restricted", "suspended", "frozen")
        sources = [n for n in self.usable([*SOURCES, "adm_hold"], statuses=everything, funded=True) if n != right]
        if valid and sources and self.accounts[right].status != "terminated":
            source = self.draw_account(data, sources, "source")
            destination = self.accounts[right]
            kinds = ["admin"]
        else:
            valid = False
            source = self.draw_account(data, [*SOURCES, "adm_hold"], "source")
            destination = self.draw_account(data, [right, right, wrong, "gha_hold"], "destination")
            kinds = ["admin", "admin", "section", "holder"]
        grants, subject = self.draw_initiator(data, source, kinds)
        units, selection_refusal, ranges = self.draw_units(data, source, before, valid)
        broken: list[str] = []
        expected: str | None
        if correction_role(grants) != ADMIN:
            expected = "correction_not_permitted"
        elif destination.type != correction:
            expected = "wrong_destination_type"
        else:
            role = correction_role(grants)
            expected, broken = enforced(transfer_violations(source, destination, role, True), True, role)
            expected = expected or selection_refusal
        issuances = [t for t in self.log if t.kind == "issue_units" and t.outcome == "recorded"]
        command: dict[str, Any] = {
            "kind": "corrective_transfer",
            "correction": correction,
            "source": source.number,
            "destination": destination.number,
            "units": units,
            "reason": "mistakenly issued" if correction == "administrative_cancellation" else "withheld",
        }
        if issuances:
            command["corrects"] = str(issuances[-1].tx)
        body = self.submit(command, grants, subject, expected, before)
        if expected is None:
            assert body["broken_rules"] == broken and body["correction"] == correction
            self.move(destination, ranges, body)

    @rule(data=st.data())
    def change_status(self, data: st.DataObject) -> None:
        """A6R-41: who may set which status; an account holding units cannot be terminated."""
        funded = self.usable([name for name, _, _ in ACCOUNTS], statuses=("active", *INACTIVE), funded=True)
        account = self.draw_account(data, [*funded, *(name for name, _, _ in ACCOUNTS)], "account")
        status = data.draw(st.sampled_from(STATUSES), label="status")
        grants, subject = self.draw_initiator(
            data, account, ["admin", "admin", "section", "other_section", "holder", "stranger"]
        )
        expected = status_refusal(account, status, role_for(grants, account), self.balance(account))
        command = {"kind": "change_account_status", "account": account.number, "status": status, "reason": "test"}
        body = self.submit(command, grants, subject, expected, snapshot(self.db))
        if expected is None:
            assert (body["old_status"], body["status"]) == (account.status, status)
            account.status = status

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def ledger_invariants(self) -> None:
        """(1)-(3) and (6) over the example's scopes, and (5): the model is the ledger's state."""
        check_invariants(self.db, [key[1] for key in self.scopes])
        now = snapshot(self.db)
        keys = set(self.scopes)
        actual: dict[ScopeKey, list[Interval]] = {k: [] for k in self.scopes}
        for r in now.holdings:
            if r.scope in keys:
                actual[r.scope].append((r.first, r.last, r.account))
        assert {k: normalized(v) for k, v in actual.items()} == self.owner
        statuses = dict(now.statuses)
        assert {a.number: statuses[a.number] for a in self.accounts.values()} == {
            a.number: a.status for a in self.accounts.values()
        }

    def teardown(self) -> None:
        """The read API agrees with the model: every account's balance and status."""
        for account in self.accounts.values():
            view = self.env.call(self.env.ledger.get(f"/accounts/{account.number}"))
            assert (int(view["balance"]), view["status"]) == (self.balance(account), account.status)


@pytest.mark.filterwarnings(RANDOM_WARNING)
async def test_a6r40_a6r44_a6r52_a6r55_random_operations_keep_the_ledger_invariants(
    ledger: LedgerClient, database_url: str
) -> None:
    await ledger.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    await ledger.ok({"kind": "create_section", "party": "CHE", "name": "Switzerland"})
    await ledger.ok(
        {"kind": "create_cooperative_approach", "id": APPROACH, "name": "GHA-CHE", "parties": ["CHE", "GHA"]}
    )
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    db = await asyncio.to_thread(psycopg.connect, dsn, autocommit=True, options="-c search_path=ledger")
    env = Env(ledger, asyncio.get_running_loop(), db)
    try:
        await asyncio.to_thread(run_state_machine_as_test, lambda: LedgerStateMachine(env), settings=SETTINGS)
        check_invariants(db)
    finally:
        db.close()
    print("\n".join(f"{kind:30} {outcome:30} {n}" for (kind, outcome), n in sorted(env.seen.items())))


async def test_a6r52_two_ranges_cut_from_one_block(ledger: LedgerClient) -> None:
    """A6R-52: an explicit transfer of two disjoint ranges of the same block (a 5-way split)."""
    acc = await setup_registry(ledger)
    await ledger.ok(
        {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": SCOPE,
            "quantity": 100,
            "first_transferring_party": "GHA",
        }
    )
    ranges = [{"scope": SCOPE, "first": 10, "last": 19}, {"scope": SCOPE, "first": 50, "last": 59}]
    response = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"ranges": ranges},
        }
    )
    assert response.status_code == 201, f"{response.status_code}: {response.text}"
    assert await ledger.balance(acc["gha_holding"]) == 20
    blocks = await ledger.get(f"/accounts/{acc['issuance']}/blocks")
    assert sorted((b["first"], b["last"]) for b in blocks["items"]) == [(1, 9), (20, 49), (60, 100)]
