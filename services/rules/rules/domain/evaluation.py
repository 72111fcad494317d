"""Evaluating a proposal against the catalogue: the verdict of the saga (A6R-17, A6R-38, A6R-39, A6R-55).

Every bound, unsuspended rule whose version is in force at the proposal's instant is evaluated.
A firing deny rule denies the transaction; a firing supplementary rule adds operations, which the
ledger records atomically with the transaction; operations that would take together more than
half the quantity (shares.limit) deny instead. A corrective transfer (A6R-55) is never denied by
pluggable rules nor charged their operations: it is evaluated as the transfer it is (the rules see
kind "transfer", and command "corrective_transfer"), and the verdict lists the rules it breaks.

A rule that fails at evaluation (an index past the end of a list, a division by zero: data the
save-time checks could not foresee) denies, with the failure as the reason: the registry does not
record a transaction its rules could not decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel

from rules.domain.bindings import SPECIFICITY, Binding, Targets, most_specific
from rules.domain.catalogue import Deny, RuleVersion, ShareOperation, Supplementary, version_in_force
from rules.domain.expressions import program, variables
from rules.domain.plugins import PluginOutcome, RulePlugin
from rules.domain.shares import MAX_SHARE, Share, allocate, decimal_text, first_over_limit, limit, parse_share
from rules.domain.validation import binding_params


@dataclass(frozen=True)
class Applicable:
    binding: Binding
    version: RuleVersion
    # The sides of the transaction (bindings.SIDES, or "holding") on which this binding applies.
    sides: frozenset[str] = frozenset()


class Snapshot:
    """The catalogue as of one configuration journal entry: what evaluations read, never change."""

    def __init__(
        self,
        *,
        sequence: int,
        recorded_at: datetime | None = None,
        versions: Mapping[str, list[RuleVersion]],
        bindings: list[Binding],
        suspended_rules: frozenset[str] = frozenset(),
        suspended_bindings: frozenset[str] = frozenset(),
        plugins: Mapping[str, RulePlugin] | None = None,
        plugin_digests: Mapping[str, str] | None = None,
    ) -> None:
        self.sequence = sequence
        # When the journal entry `sequence` was recorded: the catalogue stood so from then on.
        self.recorded_at = recorded_at
        self.versions = versions
        self.bindings = bindings
        self.suspended_rules = suspended_rules
        self.suspended_bindings = suspended_bindings
        self.plugins = plugins or {}
        # The installed plugins' code digests (adapters.plugins.code_digest).
        self.plugin_digests = plugin_digests or {}
        self._by_target: dict[tuple[str, str], list[Binding]] = {}
        for b in bindings:
            if b.id not in suspended_bindings and b.rule not in suspended_rules:
                self._by_target.setdefault((b.target_type, b.target), []).append(b)
        for versions_of_rule in versions.values():
            for v in versions_of_rule:
                if v.expression is not None:
                    program(v.expression)  # compile now, not on the first proposal

    def binds(self, kind: str) -> bool:
        """Whether any unsuspended binding is of a rule with a version of `kind` (at any time)."""
        return any(
            v.kind == kind for bound in self._by_target.values() for b in bound for v in self.versions.get(b.rule, [])
        )

    def applicable(self, kind: str, sides: Mapping[str, Targets], at: datetime) -> list[Applicable]:
        """The rules of `kind` that apply at `at`, in rule-name order, each with the binding that
        applies on each side it acts on (see bindings): one entry per distinct binding."""
        by_rule: dict[str, dict[str, list[Binding]]] = {}
        for side, targets in sides.items():
            for key in targets.keys():
                for b in self._by_target.get(key, ()):
                    by_rule.setdefault(b.rule, {}).setdefault(side, []).append(b)
        found = []
        for rule, per_side in sorted(by_rule.items()):
            version = version_in_force(self.versions.get(rule, []), at)
            if version is None or version.kind != kind:
                continue
            chosen: dict[str, tuple[Binding, set[str]]] = {}
            for side in _acts_on(version, per_side):
                # A section administrator's binding adds to the registry administrators' bindings,
                # never replaces them: a Party may charge or restrict more on its side, not less.
                for by_section in (False, True):
                    bindings = [b for b in per_side[side] if b.by_section_administrator == by_section]
                    if bindings:
                        b = most_specific(bindings)[rule]
                        chosen.setdefault(b.id, (b, set()))[1].add(side)
            ordered = sorted(chosen.values(), key=lambda c: _order(c[0]))
            found += [Applicable(b, version, frozenset(on)) for b, on in ordered]
        return found


def _order(b: Binding) -> tuple[bool, int, str, str]:
    """Registry administrators' bindings first, then from the least specific target: the order of
    the verdict's rules and of the supplementary operations they plan."""
    return (b.by_section_administrator, SPECIFICITY[b.target_type], b.target, b.id)


def _acts_on(version: RuleVersion, per_side: Mapping[str, list[Binding]]) -> list[str]:
    """The sides a rule version acts on: a supplementary operation on the side it takes from, a
    denial (or a violation) on every side."""
    if isinstance(version.effect, Supplementary):
        taken = {op.take_from for op in version.effect.operations}
        return [side for side in per_side if side in taken]
    return list(per_side)


def fire(
    snapshot: Snapshot, version: RuleVersion, ctx: cel.Context, subject: Mapping[str, Any], params: dict[str, Any]
) -> PluginOutcome:
    """Whether the rule fires. `ctx` already holds this rule's params and binding."""
    if version.plugin is not None:
        plugin = snapshot.plugins.get(version.plugin)
        if plugin is None:
            raise LookupError(f"plugin {version.plugin} is not installed")
        if version.plugin_digest is not None and snapshot.plugin_digests.get(version.plugin) != version.plugin_digest:
            raise LookupError(
                f"the code of plugin {version.plugin} changed since {version.ref} was saved; add a new version "
                "of the rule (loading its pack does) so that the change is recorded"
            )
        return plugin.evaluate(subject, params)
    assert version.expression is not None
    result = program(version.expression).execute(ctx)
    if not isinstance(result, bool):
        raise TypeError(f"the expression gave {result!r}, not a bool")
    return PluginOutcome(result)


def _reads(version: RuleVersion) -> frozenset[str]:
    """Variables a version's expressions read (plugins get everything as Python values anyway)."""
    if version.expression is None:
        return frozenset({"params", "binding"})
    found = variables(version.expression)
    if isinstance(version.effect, Supplementary):
        for op in version.effect.operations:
            found |= variables(op.to_account)
    return found


def set_rule_variables(ctx: cel.Context, version: RuleVersion, binding: Binding, params: dict[str, Any]) -> None:
    """Give the context this rule's params and binding, only if its expressions read them:
    converting them into CEL values costs more than most rules' evaluation."""
    reads = _reads(version)
    if "params" in reads:
        ctx.add_variable("params", params)
    if "binding" in reads:
        ctx.add_variable("binding", binding.context())


def _denial(v: RuleVersion, code: str, message: str) -> dict[str, Any]:
    return {"rule": v.rule, "version": v.version, "code": code, "message": message}


@dataclass(frozen=True)
class _Pending:
    app: Applicable
    operation: ShareOperation
    share: Share
    from_account: str
    to_account: str


def _plan(
    app: Applicable, ctx: cel.Context, proposal: Mapping[str, Any], params: Mapping[str, Any], outcome: PluginOutcome
) -> list[_Pending]:
    assert isinstance(app.version.effect, Supplementary)
    planned = []
    for op in app.version.effect.operations:
        if op.take_from not in app.sides:
            continue  # the binding of that side plans it: a binding never takes from another side
        source = proposal[op.take_from]
        if source.get("type") == "proxy":
            # The units in the proxy account are in another registry now (A6R-54): no share of them
            # can be taken here, and the ledger would reject the whole transaction for trying.
            continue
        b = app.binding
        assert source["present"], "a binding acts only on the sides the transaction has"
        assert b.target_type != "section" or source["section"] == b.target, "never from another section"
        assert b.target_type != "account" or source["number"] == b.target, "never from another account"
        to_account = program(op.to_account).execute(ctx)
        if not isinstance(to_account, str) or not to_account:
            raise ValueError(f"to_account gave {to_account!r}, not an account number")
        if to_account == source["number"]:
            raise ValueError(f"the share would move units from {to_account} to itself")
        param = op.share_param()
        share = parse_share(params[param] if param is not None else op.share)
        basis = proposal["quantity"] if outcome.basis is None else outcome.basis
        if not 0 <= basis <= proposal["quantity"]:
            # A share is of units the transaction moves: a plugin saying otherwise is wrong, not capped.
            raise ValueError(f"the basis {basis} is not between 0 and the quantity {proposal['quantity']}")
        planned.append(_Pending(app, op, Share(basis, share, op.rounding), source["number"], to_account))
    return planned


def evaluate_proposal(
    snapshot: Snapshot, proposal: Mapping[str, Any], *, at: datetime, evaluated_at: datetime
) -> dict[str, Any]:
    """The verdict, as a rules.VerdictGiven payload, for a proposal context (context.proposal_context)."""
    correction = proposal["kind"] == "correction"
    if correction:
        proposal = {**proposal, "kind": "transfer"}
    ctx = cel.Context({"proposal": proposal, "now": at})
    rules: list[dict[str, Any]] = []
    denials: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    pending: list[_Pending] = []
    for app in snapshot.applicable("business", Targets.sides_of(proposal), at):
        v, b = app.version, app.binding
        entry = {
            "rule": v.rule,
            "version": v.version,
            "binding_id": b.id,
            "target_type": b.target_type,
            "target": b.target,
            "effect": v.effect_name,
            "fired": False,
            "skipped": None,
        }
        rules.append(entry)
        if b.by_section_administrator and not v.section_bindable:
            entry["skipped"] = "not_section_bindable"
            continue
        try:
            params = binding_params(v.params, b.params)
            set_rule_variables(ctx, v, b, params)
            outcome = fire(snapshot, v, ctx, proposal, params)
            entry["fired"] = outcome.fires
            charged = outcome.fires and not correction and not isinstance(v.effect, Deny)
            planned = _plan(app, ctx, proposal, params, outcome) if charged else []
        except Exception as exc:  # see the module docstring: a rule that cannot decide denies
            entry["fired"] = True
            (broken if correction else denials).append(
                _denial(v, "rule_error", f"rule {v.ref} could not be evaluated: {exc}")
            )
            entry["skipped"] = "correction" if correction else None
            continue
        if not outcome.fires:
            continue
        if correction:
            entry["skipped"] = "correction"
            if isinstance(v.effect, Deny):
                broken.append(_denial(v, v.effect.code, v.effect.message))
        elif isinstance(v.effect, Deny):
            denials.append(_denial(v, v.effect.code, v.effect.message))
        else:
            pending += planned
    operations: list[dict[str, Any]] = []
    if not denials:
        amounts, _ = allocate(proposal["quantity"], [p.share for p in pending])
        over = first_over_limit(proposal["quantity"], amounts)
        if over is None:
            operations = _operations(pending, amounts)
        else:
            denials.append(_over_limit(pending[over].app.version, proposal["quantity"], sum(amounts)))
    return {
        "transaction_id": proposal["transaction_id"],
        "outcome": "deny" if denials else "accept",
        "rules": rules,
        "denials": denials,
        "broken_rules": broken,
        "supplementary_operations": operations,
        "proposed_at": at,
        "evaluated_at": evaluated_at,
        "catalogue_sequence": snapshot.sequence,
    }


def _over_limit(v: RuleVersion, quantity: int, taken: int) -> dict[str, Any]:
    # Denied rather than cut down: which rule would yield is no one's decision, and a cut would
    # let one binding's share starve another's (the registry's OMGE, say).
    return _denial(
        v,
        "supplementary_above_limit",
        f"the supplementary operations would take {taken} of the {quantity} units moved, more than"
        f" {limit(quantity)} ({decimal_text(MAX_SHARE)} of them, rounded down); rule {v.ref} passes the"
        " limit: move more units, or have an administrator lower the shares bound",
    )


def _operations(pending: list[_Pending], amounts: list[int]) -> list[dict[str, Any]]:
    operations: list[dict[str, Any]] = []
    for p, amount in zip(pending, amounts, strict=True):
        if amount == 0:
            continue  # a share that rounds to nothing moves nothing; the rule still shows as fired
        operations.append(
            {
                "sequence": len(operations) + 1,
                "kind": p.operation.kind,
                "from_account": p.from_account,
                "to_account": p.to_account,
                "quantity": amount,
                "basis": p.share.basis,
                "share": decimal_text(p.share.share),
                "exact_quantity": decimal_text(p.share.exact),
                "rounding": p.share.rounding,
                "units": "moved_units",
                "reason": p.operation.reason,
                "rule": p.app.version.rule,
                "rule_version": p.app.version.version,
                "binding_id": p.app.binding.id,
            }
        )
    return operations
