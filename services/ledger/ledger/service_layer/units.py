"""Issuance, transfers with explicit and implicit splitting, corrections and external transfers
(A6R-44 a b, A6R-52, A6R-54, A6R-55)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ledger.adapters.repository import LedgerRepository
from ledger.domain.builtin_rules import (
    AUTHORIZATION,
    CORRECTION_INITIATOR,
    CORRECTION_RULES,
    ISSUANCE_RULES,
    TRANSFER_RULES,
    RuleViolation,
    check_approach,
    check_issuance,
    check_transfer,
    enforce,
)
from ledger.domain.errors import DomainError, InsufficientUnits, OverlappingRanges, RangeNotHeld
from ledger.domain.live_holdings import (
    Eligible,
    Holding,
    LiveHoldings,
    NewBlock,
    Piece,
    select_implicit,
)
from ledger.domain.model import Account, AccountType, Role
from ledger.domain.splitting import remainders
from ledger.domain.supplementary import check_supplementary
from ledger.service_layer import commands as c
from ledger.service_layer.configuration import Conflict, NotFound, require_approach
from ledger.service_layer.context import Event, TxContext, scope_key
from ledger.service_layer.saga import take_highest
from registry_contracts.nomenclatures import Nomenclature, UnknownCode

# The commands that generate units, whose codes are judged against the nomenclature: their journal
# entries name its version (rule set 4).
JUDGED_BY_NOMENCLATURE = frozenset({"issue_units", "external_transfer_in"})


async def _accounts(ctx: TxContext, *numbers: str) -> list[Account]:
    found = []
    for number in numbers:
        account = ctx.account(number)
        if account is None:
            raise NotFound(f"there is no account {number}", code="unknown_account")
        found.append(account)
    return found


async def _scope_id(ctx: TxContext, scope: c.SerialScope, *, create: bool) -> int | None:
    scope_id = ctx.scope_id(scope)
    if scope_id is None and create:
        scope_id = ctx.counters.take("scope")
        await ctx.repo.add_scope(scope_id, scope)
        ctx.put_scope(scope_id, scope)
    return scope_id


async def _explicit(ctx: TxContext, source: str, ranges: list[c.SerialRangeRef]) -> list[Piece]:
    pieces: list[Piece] = []
    seen: dict[int, list[tuple[int, int]]] = {}
    for r in ranges:
        scope_id = await _scope_id(ctx, r.scope, create=False)
        where = f"{r.scope.issuing_party}/{r.scope.activity_id}/{r.scope.vintage} serials {r.first}-{r.last}"
        if scope_id is None:
            raise RangeNotHeld(f"account {source} does not hold {where}")
        for first, last in seen.get(scope_id, []):
            if first <= r.last and r.first <= last:
                raise OverlappingRanges(f"the requested ranges overlap at {where}")
        seen.setdefault(scope_id, []).append((r.first, r.last))
        holdings = ctx.live.overlapping(scope_id, r.first, r.last)
        covered = r.first
        for h in holdings:
            if h.account_number != source or h.first > covered:
                break
            pieces.append(Piece(h, max(h.first, r.first), min(h.last, r.last)))
            covered = h.last + 1
        if covered <= r.last:
            raise RangeNotHeld(f"account {source} does not hold all of {where}")
    return pieces


async def _implicit(ctx: TxContext, source: str, selection: c.Selection, destination: Account) -> list[Piece]:
    eligible = await eligibility(ctx.repo, ctx.scope_view, selection)
    if ctx.ruleset >= 7:
        return choose_implicit(
            ctx.live,
            source,
            selection.quantity,
            eligible,
            ctx.reserved,
            destination,
            ctx.approach_of,
            ctx.approach_parties,
        )
    return select_implicit(ctx.live, source, selection.quantity, eligible, ctx.reserved)


async def eligibility(
    repo: LedgerRepository, scope_view: Callable[[int], dict[str, Any]], selection: c.Selection
) -> Eligible:
    """Which blocks a selection's constraints admit (None: every block of the account)."""
    wanted = {
        name: value
        for name, value in (
            ("issuing_party", selection.issuing_party),
            ("activity_id", selection.activity_id),
            ("metric", selection.metric),
        )
        if value is not None
    }
    low, high = selection.vintage_from, selection.vintage_to
    approach = None
    if selection.cooperative_approach is not None:
        approach = await repo.issuances_of_approach(selection.cooperative_approach)
    if not wanted and low is None and high is None and approach is None:
        return None
    scopes: dict[int, bool] = {}

    def in_scope(scope_id: int) -> bool:
        view = scope_view(scope_id)
        return (
            all(view[name] == value for name, value in wanted.items())
            and (low is None or view["vintage"] >= low)
            and (high is None or view["vintage"] <= high)
        )

    def eligible(h: Holding) -> bool:
        ok = scopes.get(h.scope_id)
        if ok is None:
            ok = scopes[h.scope_id] = in_scope(h.scope_id)
        return ok and (approach is None or h.issuance_id in approach)

    return eligible


async def _select(ctx: TxContext, source: str, units: c.Units, destination: Account) -> list[Piece]:
    if units.ranges is not None:
        return await _explicit(ctx, source, units.ranges)
    assert units.selection is not None
    return await _implicit(ctx, source, units.selection, destination)


ApproachOf = Callable[[int], str | None]  # an issuance's cooperative approach
PartiesOf = Callable[[str], tuple[str, ...] | None]  # an approach's Parties


def choose_implicit(
    live: LiveHoldings,
    source: str,
    quantity: int,
    eligible: Eligible,
    reserved: Sequence[tuple[int, int, int]],
    destination: Account | None,
    approach_of: ApproachOf,
    parties_of: PartiesOf,
) -> list[Piece]:
    """A6R-52's selection among the eligible units `destination` takes (COOPERATIVE_APPROACH, rule
    set 7), not units the rule would then refuse. If those are too few but the account holds
    enough, the selection among all the eligible units: the rule then refuses it by name, rather
    than as insufficient units."""
    if destination is None or (destination.cooperative_approach is None and destination.party is None):
        return select_implicit(live, source, quantity, eligible, reserved)
    takes: dict[str | None, bool] = {}

    def taken(h: Holding) -> bool:
        approach = approach_of(h.issuance_id)
        if approach not in takes:
            takes[approach] = not untaken(destination, [approach], parties_of)
        return takes[approach] and (eligible is None or eligible(h))

    try:
        return select_implicit(live, source, quantity, taken, reserved)
    except InsufficientUnits:
        return select_implicit(live, source, quantity, eligible, reserved)


def untaken(destination: Account, approaches: Iterable[str | None], parties_of: PartiesOf) -> list[RuleViolation]:
    """COOPERATIVE_APPROACH for units of `approaches` (those of live units: every one exists) coming
    into `destination`."""
    return check_approach(destination, {a: () if a is None else parties_of(a) or () for a in approaches})


def untaken_pieces(
    destination: Account, pieces: Iterable[Piece], approach_of: ApproachOf, parties_of: PartiesOf
) -> list[RuleViolation]:
    """COOPERATIVE_APPROACH for the chosen `pieces` coming into `destination`."""
    return untaken(destination, {approach_of(p.holding.issuance_id) for p in pieces}, parties_of)


async def _move(ctx: TxContext, pieces: list[Piece], destination: str) -> list[dict[str, Any]]:
    """Move `pieces` to `destination`; return the moved ranges, each with the block now holding it.

    Each source block is retired; the remainders of a partly moved block (the 2- or 3-way split of
    A6R-52) stay in the source as new blocks. In the destination, a moved range joins any live
    block of the same issuance that it touches (consecutive serials, same metadata) into one
    block. So an account never holds two adjacent blocks of one issuance, and units moving back
    and forth do not fragment the registry (A6R-52: registries shall minimise fragmentation).

    In a dry run the ranges are named with the blocks that hold them now: what the transfer would
    take, and the block ids whose issuance metadata describe the units."""
    ctx.taken += [(p.holding.scope_id, p.first, p.last) for p in pieces]
    if ctx.dry_run:
        return [
            {
                "block_id": p.holding.block_id,
                "account": destination,
                "scope": ctx.scope_view(p.holding.scope_id),
                "first": p.first,
                "last": p.last,
                "quantity": p.last - p.first + 1,
            }
            for p in sorted(pieces, key=lambda p: (p.holding.block_id, p.first))
        ]
    created: list[NewBlock] = []
    cuts: dict[int, list[Piece]] = {}
    for p in pieces:
        cuts.setdefault(p.holding.block_id, []).append(p)
    for cut in cuts.values():
        h = cut[0].holding
        for first, last in remainders((h.first, h.last), [(p.first, p.last) for p in cut]):
            created.append(
                NewBlock(
                    ctx.counters.take("block"), h.issuance_id, h.scope_id, first, last, h.account_number, h.block_id
                )
            )
    neighbours = _touching(ctx, destination, pieces)
    runs = _coalesce(
        [(p.holding, p.first, p.last) for p in pieces] + [(n, n.first, n.last) for n in neighbours], destination
    )
    moved: list[dict[str, Any]] = []
    for (holding, first, last), members in runs:
        block = NewBlock(
            ctx.counters.take("block"),
            holding.issuance_id,
            holding.scope_id,
            first,
            last,
            destination,
            holding.block_id,
        )
        created.append(block)
        moved += [
            {
                "block_id": block.block_id,
                "account": destination,
                "scope": ctx.scope_view(block.scope_id),
                "first": first_serial,
                "last": last_serial,
                "quantity": last_serial - first_serial + 1,
            }
            for first_serial, last_serial in members
        ]
    retired = list(cuts) + [n.block_id for n in neighbours]
    await _write_move(ctx, retired, created)
    return sorted(moved, key=lambda m: (m["block_id"], m["first"]))


async def _write_move(ctx: TxContext, retired: list[int], created: list[NewBlock]) -> None:
    """The writer's memory first (it refuses a move that breaks an invariant), then the record."""
    ctx.live.move(retired, [b.holding() for b in created])
    await ctx.repo.move_blocks(retired, created, ctx.tx)


def _touching(ctx: TxContext, account: str, pieces: list[Piece]) -> list[Holding]:
    """Live blocks of `account` of the same issuance as a piece and right next to it."""
    found: dict[int, Holding] = {}
    for p in pieces:
        for h in ctx.live.overlapping(p.holding.scope_id, p.first - 1, p.last + 1):
            if h.account_number == account and h.issuance_id == p.holding.issuance_id:
                found[h.block_id] = h
    return [found[b] for b in sorted(found)]


def _coalesce(
    ranges: list[tuple[Holding, int, int]], destination: str
) -> list[tuple[tuple[Holding, int, int], list[tuple[int, int]]]]:
    """Join touching ranges of one issuance; each run lists the ranges that move into it (the
    destination's own neighbouring blocks join the run but did not move)."""
    runs: list[tuple[tuple[Holding, int, int], list[tuple[int, int]]]] = []
    for holding, first, last in sorted(ranges, key=lambda r: (r[0].issuance_id, r[1])):
        moved = [] if holding.account_number == destination else [(first, last)]
        if runs and runs[-1][0][0].issuance_id == holding.issuance_id and runs[-1][0][2] + 1 == first:
            (head, run_first, _), members = runs[-1]
            runs[-1] = ((head, run_first, last), members)
        else:
            runs.append(((holding, first, last), []))
        runs[-1][1].extend(moved)
    return runs


def _views(ctx: TxContext, blocks: list[NewBlock]) -> list[dict[str, Any]]:
    return [
        {
            "block_id": b.block_id,
            "account": b.account_number,
            "scope": ctx.scope_view(b.scope_id),
            "first": b.first,
            "last": b.last,
            "quantity": b.last - b.first + 1,
        }
        for b in blocks
    ]


def _recorded(ctx: TxContext, kind: str, operations: list[dict[str, Any]]) -> None:
    ctx.events.append(
        Event(
            "ledger.TransactionRecorded",
            str(ctx.tx),
            {
                "transaction_id": str(ctx.tx),
                "kind": kind,
                "status": "recorded",
                "initiator": ctx.principal.initiator,
                "on_behalf_of": ctx.principal.on_behalf_of,
                "operations": operations,
                "recorded_at": ctx.now,
            },
        )
    )


async def _transfer(
    ctx: TxContext, source: Account, destination: Account, units: c.Units, *, role: Role, correction: bool = False
) -> dict[str, Any]:
    violations = check_transfer(source, destination, role, correction, ctx.suspended_sections, ctx.ruleset)
    broken = enforce(violations, correction, role)
    ctx.rules_applied += ctx.rule_refs(CORRECTION_RULES if correction else TRANSFER_RULES)
    ctx.broken_rules += [v.rule.ref for v in broken]
    pieces = await _select(ctx, source.number, units, destination)
    # Which units move is known only now; still before any write.
    broken = enforce(_approach_violations(ctx, destination, pieces), correction, role)
    ctx.broken_rules += [v.rule.ref for v in broken]
    moved = await _move(ctx, pieces, destination.number)
    quantity = sum(b["quantity"] for b in moved)
    _recorded(
        ctx,
        ctx.proposal.command.kind,
        [
            {
                "op": "transfer",
                "source": source.number,
                "destination": destination.number,
                "blocks": moved,
            }
        ],
    )
    return {"source": source.number, "destination": destination.number, "quantity": quantity, "blocks": moved}


def _approach_violations(ctx: TxContext, destination: Account, pieces: list[Piece]) -> list[RuleViolation]:
    """COOPERATIVE_APPROACH for the chosen units coming into `destination` (rule set 7)."""
    if ctx.ruleset < 7:
        return []
    return untaken_pieces(destination, pieces, ctx.approach_of, ctx.approach_parties)


def _parties(ctx: TxContext, approaches: set[str | None]) -> dict[str | None, tuple[str, ...]]:
    # In order: which unknown approach a refusal names must not depend on the process's hash seed.
    return {a: () if a is None else require_approach(ctx, a) for a in sorted(approaches, key=lambda a: a or "")}


async def issue_units(ctx: TxContext, cmd: c.IssueUnits) -> dict[str, Any]:
    (account,) = await _accounts(ctx, cmd.account)
    role = ctx.require_role(account)
    enforce(check_issuance(account, role, suspended=ctx.suspended_sections), False, role)
    ctx.rules_applied += ctx.rule_refs(ISSUANCE_RULES)
    parties = _parties(ctx, {cmd.cooperative_approach})
    if ctx.ruleset >= 3 and account.party is not None:
        _require_own_party(account, cmd.scope, cmd.cooperative_approach, parties[cmd.cooperative_approach])
    if ctx.ruleset >= 7:
        enforce(check_approach(account, parties), False, role)
    block = await _generate(
        ctx,
        account.number,
        cmd.scope,
        cmd.first_serial,
        cmd.quantity,
        cmd.model_dump(
            include={
                "cooperative_approach",
                "first_transferring_party",
                "sectors",
                "activity_types",
                "underlying_registry",
                "underlying_first",
                "underlying_last",
            }
        ),
    )
    views = _views(ctx, [block])
    _recorded(ctx, cmd.kind, [{"op": "issue", "account": account.number, "blocks": views}])
    return {"account": account.number, "quantity": cmd.quantity, "blocks": views}


def _require_own_party(account: Account, scope: c.SerialScope, approach: str | None, parties: tuple[str, ...]) -> None:
    """A Party's section issues its own units (rule set 3): in another Party's serial scope it
    would take serials that Party's registry hands out, and refuse that Party's real units when
    they arrive; and units of a cooperative approach come from one of its Parties (A6R-40, A6R-46)."""
    if scope.issuing_party != account.party:
        raise DomainError(
            f"account {account.number} is {account.party}'s: it issues units whose issuing Party is "
            f"{account.party}, not {scope.issuing_party}",
            code="issuing_party_mismatch",
        )
    if approach is not None and account.party not in parties:
        raise DomainError(
            f"{account.party} does not take part in cooperative approach {approach} (its Parties: "
            f"{', '.join(parties)})",
            code="party_not_in_approach",
        )


def _check_codes(nomenclature: Nomenclature, scope: c.SerialScope, metadata: dict[str, Any]) -> None:
    """Registry ids, metrics, sectors and activity types come from the common nomenclatures,
    versioned reference data (A6R-57), not from the caller's imagination."""
    try:
        nomenclature.registry(scope.originating_registry)
        nomenclature.metric(scope.metric)
        for sector in metadata.get("sectors", []):
            nomenclature.sector(sector)
        for activity_type in metadata.get("activity_types", []):
            nomenclature.activity_type(activity_type)
    except UnknownCode as exc:
        raise DomainError(str(exc), code="unknown_code") from exc


async def _generate(
    ctx: TxContext, account: str, scope: c.SerialScope, first: int | None, quantity: int, metadata: dict[str, Any]
) -> NewBlock:
    # Every check before the first write (see LedgerWriter.apply).
    _check_codes(ctx.nomenclature, scope, metadata)
    existing = ctx.scope_id(scope)
    if first is None:
        first = 1 if existing is None else await ctx.repo.highest_serial(existing) + 1
        first = max(first, ctx.serial_floor.get(scope_key(scope), 1))
    last = first + quantity - 1
    if last > c.MAX_SERIAL:
        raise DomainError(f"serials would run past {c.MAX_SERIAL}", code="serial_overflow")
    if existing is not None and await ctx.repo.issued_overlapping(existing, first, last):
        raise OverlappingRanges(f"serials {first}-{last} of this scope were already issued")
    scope_id = await _scope_id(ctx, scope, create=True)
    assert scope_id is not None
    issuance_id = ctx.counters.take("issuance")
    await ctx.repo.add_issuance(
        issuance_id=issuance_id, tx=ctx.tx, scope_id=scope_id, first=first, last=last, metadata=metadata
    )
    if metadata.get("cooperative_approach") is not None:
        ctx.new_issuance_approaches[issuance_id] = metadata["cooperative_approach"]
    block = NewBlock(ctx.counters.take("block"), issuance_id, scope_id, first, last, account, None)
    await _write_move(ctx, [], [block])
    ctx.generated.append((scope_key(scope), first, last))
    return block


async def transfer_units(ctx: TxContext, cmd: c.TransferUnits) -> dict[str, Any]:
    source, destination = await _accounts(ctx, cmd.source, cmd.destination)
    if destination.type == AccountType.PROXY:
        raise DomainError("transfers to another registry are external transfers", code="use_external_transfer")
    role = ctx.require_role(source)
    if ctx.ruleset >= 7 and source.type == AccountType.PROXY:
        # An incoming external transfer names the registry the units come from (A6R-54).
        raise DomainError(
            "units leave the proxy account only with the incoming external transfer that brings them",
            code="use_external_transfer",
        )
    return await _transfer(ctx, source, destination, cmd.units, role=role)


async def corrective_transfer(ctx: TxContext, cmd: c.CorrectiveTransfer) -> dict[str, Any]:
    """A6R-55: only registry administrators; records the transaction corrected and the rules broken."""
    if ctx.ruleset >= 8 and _admin_role(ctx) != Role.REGISTRY_ADMINISTRATOR:
        # First (rule set 8): any other refusal would tell whoever asks whether a transaction or
        # an account exists, and whether a transfer was reversed and by which transaction.
        ctx.rules_applied += ctx.rule_refs((CORRECTION_INITIATOR,))
        enforce([], True, _admin_role(ctx))
    if cmd.correction == "reversal":
        result = await _reverse(ctx, cmd)
    else:
        if cmd.source is None or cmd.destination is None or cmd.units is None:
            raise DomainError("name the source, the destination and the units", code="incomplete_correction")
        source, destination = await _accounts(ctx, cmd.source, cmd.destination)
        wanted = AccountType(cmd.correction)
        if destination.type != wanted:
            raise DomainError(f"an {cmd.correction} moves units to an {wanted} account", code="wrong_destination_type")
        if ctx.ruleset >= 7 and cmd.corrects is not None and _admin_role(ctx) == Role.REGISTRY_ADMINISTRATOR:
            # The journal names what a correction corrects (A6R-55): a transaction that was recorded.
            corrected = await ctx.repo.transaction(uuid.UUID(cmd.corrects))
            if corrected is None or corrected.outcome != "recorded":
                raise NotFound(f"there is no recorded transaction {cmd.corrects}", code="unknown_transaction")
        result = await _transfer(ctx, source, destination, cmd.units, role=_admin_role(ctx), correction=True)
    return {**result, "correction": cmd.correction, "corrects": cmd.corrects, "broken_rules": ctx.broken_rules}


def _admin_role(ctx: TxContext) -> Role:
    return Role.REGISTRY_ADMINISTRATOR if ctx.principal.is_registry_administrator else Role.ACCOUNT_HOLDER


def _reversible(original: Any, ruleset: int) -> bool:
    """Transfers, and since rule set 3 the withholding of units in administrative holding
    (A6R-55 c: withheld temporarily, so released by reversing it)."""
    if original is None or original.outcome != "recorded":
        return False
    if original.kind in ("transfer_units", "external_transfer_out"):
        return True
    withholding = original.kind == "corrective_transfer" and original.result.get("correction") == (
        AccountType.ADMINISTRATIVE_HOLDING.value
    )
    return ruleset >= 3 and withholding


def _scope_of(view: dict[str, Any]) -> tuple[Any, ...]:
    return scope_key(c.SerialScope(**view))


def _reversal_legs(original: Any, ruleset: int) -> list[tuple[str, list[c.SerialRangeRef]]]:
    """Where each of a transfer's serials is now meant to be, as (account, ranges): the main
    destination, and since rule set 3 each supplementary operation's destination for the serials
    it took (before, such a transfer could never be reversed: its serials were not all in the
    destination)."""
    supplementary = original.result.get("supplementary", []) if ruleset >= 3 else []
    taken: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for op in supplementary:
        for b in op["blocks"]:
            taken.setdefault(_scope_of(b["scope"]), []).append((b["first"], b["last"]))
    main = [
        c.SerialRangeRef(scope=c.SerialScope(**b["scope"]), first=first, last=last)
        for b in original.result["blocks"]
        for first, last in remainders(
            (b["first"], b["last"]),
            [t for t in taken.get(_scope_of(b["scope"]), []) if b["first"] <= t[0] and t[1] <= b["last"]],
        )
    ]
    legs = [(original.result["destination"], main)]
    for op in supplementary:
        ranges = [
            c.SerialRangeRef(scope=c.SerialScope(**b["scope"]), first=b["first"], last=b["last"]) for b in op["blocks"]
        ]
        legs.append((op["to_account"], ranges))
    if ruleset >= 6:
        # One leg per account: two operations into one account may have joined their serials into
        # one block, which a leg each would retire twice. Serials an operation sent back to the
        # transfer's source are already where the reversal takes them.
        by_account: dict[str, list[c.SerialRangeRef]] = {}
        for account, ranges in legs:
            if account != original.result["source"]:
                by_account.setdefault(account, []).extend(ranges)
        legs = list(by_account.items())
    return [(account, ranges) for account, ranges in legs if ranges]


async def _reverse(ctx: TxContext, cmd: c.CorrectiveTransfer) -> dict[str, Any]:
    """A6R-55 (a): the serials a transfer moved go back, if they are all still where it put them
    (its destination, and the destinations of its supplementary operations)."""
    if cmd.corrects is None:
        raise DomainError("a reversal names the transaction it reverses in 'corrects'", code="incomplete_correction")
    original = await ctx.repo.transaction(uuid.UUID(cmd.corrects))
    if not _reversible(original, ctx.ruleset):
        raise NotFound(f"there is no recorded transfer {cmd.corrects}", code="unknown_transaction")
    # Once only: the serials may have moved again since, and a second reversal would undo that
    # later transfer without naming it.
    earlier = await ctx.repo.reversal_of(original.id)
    if earlier is not None:
        raise Conflict(f"transfer {cmd.corrects} was already reversed by {earlier}", code="already_reversed")
    (destination,) = await _accounts(ctx, original.result["source"])
    # Every check before the first write (see LedgerWriter.apply).
    checked = []
    for held_by, ranges in _reversal_legs(original, ctx.ruleset):
        (source,) = await _accounts(ctx, held_by)
        violations = check_transfer(source, destination, _admin_role(ctx), True, ctx.suspended_sections, ctx.ruleset)
        checked.append((source, ranges, enforce(violations, True, _admin_role(ctx))))
    legs = []
    for source, ranges, _ in checked:
        try:
            legs.append((source, await _explicit(ctx, source.number, ranges)))
        except RangeNotHeld as exc:
            raise Conflict(
                f"units of transfer {cmd.corrects} have moved on; reverse the later transfers first",
                code="units_moved_on",
            ) from exc
    ctx.rules_applied += ctx.rule_refs(CORRECTION_RULES)
    ctx.broken_rules += [v.rule.ref for _, _, broken in checked for v in broken]
    for _, pieces in legs:
        # Overridable: named, for units that came into the account past the rule (A6R-55).
        broken = enforce(_approach_violations(ctx, destination, pieces), True, _admin_role(ctx))
        ctx.broken_rules += [v.rule.ref for v in broken]
    operations, blocks = [], []
    for source, pieces in legs:
        moved = await _move(ctx, pieces, destination.number)
        operations.append(
            {"op": "transfer", "source": source.number, "destination": destination.number, "blocks": moved}
        )
        blocks += moved
    _recorded(ctx, cmd.kind, operations)
    return {
        "source": original.result["destination"],
        "destination": destination.number,
        "quantity": sum(b["quantity"] for b in blocks),
        "blocks": blocks,
        # The accounts the units came back from, the main destination first.
        **({"returned_from": [s.number for s, _ in legs]} if len(legs) > 1 else {}),
    }


async def external_transfer_out(ctx: TxContext, cmd: c.ExternalTransferOut) -> dict[str, Any]:
    proxy = ctx.proxy()
    if proxy is None:
        raise Conflict("the registry has no proxy account yet (A6R-54)", code="no_proxy_account")
    source, proxy = await _accounts(ctx, cmd.source, proxy.number)
    result = await _transfer(ctx, source, proxy, cmd.units, role=ctx.require_role(source))
    return {**result, "destination_registry": cmd.destination_registry, "destination_account": cmd.destination_account}


async def external_transfer_in(ctx: TxContext, cmd: c.ExternalTransferIn) -> dict[str, Any]:
    """Units coming back leave the proxy; units new to this registry are generated there first."""
    proxy = ctx.proxy()
    if proxy is None:
        raise Conflict("the registry has no proxy account yet (A6R-54)", code="no_proxy_account")
    proxy, destination = await _accounts(ctx, proxy.number, cmd.destination)
    role = ctx.require_role(proxy)
    enforce(check_issuance(proxy, role, external=True, suspended=ctx.suspended_sections), False, role)
    enforce(check_transfer(proxy, destination, role, False, ctx.suspended_sections, ctx.ruleset), False, role)
    ctx.rules_applied += ctx.rule_refs((*ISSUANCE_RULES, *TRANSFER_RULES))
    # Every approach the sending registry names exists here (refused before any write).
    _parties(ctx, {b.cooperative_approach for b in cmd.blocks})
    if ctx.ruleset >= 7:
        enforce(check_approach(destination, _parties(ctx, await _incoming_approaches(ctx, cmd))), False, role)
    pieces: list[Piece] = []
    for b in cmd.blocks:
        scope_id = await _scope_id(ctx, b.scope, create=False)
        held = [] if scope_id is None else ctx.live.overlapping(scope_id, b.first, b.last)
        if held:
            pieces += await _explicit(ctx, proxy.number, [c.SerialRangeRef(scope=b.scope, first=b.first, last=b.last)])
            continue
        block = await _generate(
            ctx,
            proxy.number,
            b.scope,
            b.first,
            b.last - b.first + 1,
            {
                **b.model_dump(
                    include={"cooperative_approach", "first_transferring_party", "sectors", "activity_types"}
                ),
                "underlying_registry": cmd.origin_registry,
            },
        )
        pieces.append(Piece(block.holding(), block.first, block.last))
    moved = await _move(ctx, pieces, destination.number)
    _recorded(
        ctx,
        cmd.kind,
        [
            {
                "op": "external_in",
                "origin_registry": cmd.origin_registry,
                "destination": destination.number,
                "blocks": moved,
            }
        ],
    )
    return {
        "source": proxy.number,
        "destination": destination.number,
        "origin_registry": cmd.origin_registry,
        "quantity": sum(m["quantity"] for m in moved),
        "blocks": moved,
    }


async def _incoming_approaches(ctx: TxContext, cmd: c.ExternalTransferIn) -> set[str | None]:
    """The cooperative approaches of incoming units: as recorded here for units coming back (they
    wait in the proxy), as the sending registry names them for units new to this registry."""
    found: set[str | None] = set()
    for b in cmd.blocks:
        scope_id = await _scope_id(ctx, b.scope, create=False)
        held = [] if scope_id is None else ctx.live.overlapping(scope_id, b.first, b.last)
        found |= {ctx.approach_of(h.issuance_id) for h in held} if held else {b.cooperative_approach}
    return found


async def apply_supplementary(ctx: TxContext, result: dict[str, Any], verdict: dict[str, Any]) -> None:
    """Record the verdict's supplementary operations in the same transaction as the main one
    (A6R-38 b): each takes its units from what the main operation moved, highest serials first.
    The built-in account type and status rules still apply; the user's authorization does not,
    because the rule bound by an administrator, not the user, orders the operation."""
    scopes = {r["binding_id"]: (r["target_type"], r["target"]) for r in verdict.get("rules", [])}
    remaining = list(result["blocks"])
    done = []
    for op in sorted(verdict["supplementary_operations"], key=lambda o: o["sequence"]):
        source, destination = await _accounts(ctx, op["from_account"], op["to_account"])
        check_supplementary(op["kind"], source, destination, scopes.get(op["binding_id"]))
        violations = [
            v
            for v in check_transfer(source, destination, Role.SYSTEM, False, ctx.suspended_sections, ctx.ruleset)
            if v.rule != AUTHORIZATION
        ]
        enforce(violations, False, Role.SYSTEM)
        try:
            ranges, remaining = take_highest(remaining, op["quantity"])
        except ValueError as exc:
            raise DomainError(str(exc), code="supplementary_exceeds_transaction") from exc
        pieces = await _explicit(ctx, source.number, ranges)
        enforce(_approach_violations(ctx, destination, pieces), False, Role.SYSTEM)
        moved = await _move(ctx, pieces, destination.number)
        done.append({**op, "blocks": moved})
        ctx.events[-1].payload["operations"].append(
            {
                "op": "supplementary",
                "source": source.number,
                "destination": destination.number,
                "blocks": moved,
                "rule": op["rule"],
                "rule_version": op["rule_version"],
                "reason": op["reason"],
            }
        )
    result["supplementary"] = done
