"""Rule evaluation latency with 20 bound rules (issue 5: p99 <= 5 ms), against references measured
in the same run.

In process, no database: the catalogue snapshot the rules service keeps in memory, the shipped
rule pack plus 14 more CEL rules, all bound to the registry so that every one applies to the
proposal (a transfer of five unit ranges). Measured per proposal:

1. the whole evaluation the saga consumer does after reading its snapshot: proposal validation,
   evaluation context, 20 rules, verdict validation and JSON form (rules.service_layer.saga.evaluate
   without its database round trip);
2. the rules alone (rules.domain.evaluation.evaluate_proposal);
3. reference: the same pipeline with one trivial CEL rule (`false`);
4. reference: 20 plain Python predicates over the same context (what hand-written rules would cost).

`python -m bench.rules_eval` runs it alone; `python -m bench` runs it after the ledger benchmark.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_contracts.events.rules import ProposalSubmitted, VerdictGiven
from rules import samples
from rules.adapters.plugins import installed_plugins
from rules.domain.bindings import Binding
from rules.domain.catalogue import Deny, RuleVersion
from rules.domain.context import proposal_context
from rules.domain.evaluation import Snapshot, evaluate_proposal
from rules.domain.validation import validate_version
from rules.service_layer.commands import VersionIn, to_version
from rules.service_layer.pack import read_pack

P99_TARGET_MS = 5.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PACK_PARAMS: dict[str, dict[str, Any]] = {
    "vintage-window": {"vintage_from": 2016},
    "transaction-quantity-cap": {"max_quantity": 1_000_000},
    "share-of-proceeds": {"adaptation_account": "REG-100901"},
    "omge-cancellation": {"omge_account": "REG-100902"},
    "registry-commission": {"fee_account": "REG-100903"},
}
# Realistic shapes: comprehensions over units, grants and descriptors, string tests, arithmetic.
EXTRA = [
    "proposal.units.exists(u, u.sectors.exists(s, s == 'coal'))",
    "proposal.units.exists(u, u.activity_types.exists(a, a.startsWith('forbidden')))",
    "proposal.destination.status != 'active' && proposal.destination.present",
    "proposal.source.present && proposal.source.status in ['suspended', 'frozen', 'terminated']",
    "proposal.kind == 'transfer' && proposal.destination.type == 'issuance'",
    "proposal.units.exists(u, u.vintage < 2013 && u.issuing_party == proposal.source.section)",
    "size(proposal.units) > 100 || proposal.quantity > 50000000",
    "!proposal.initiator_grants.exists(g, g.role != '') && proposal.on_behalf_of != ''",
    "proposal.descriptors.exists(d, d.authorized && d.dedication == 'none')",
    "proposal.units.filter(u, u.metric != 'tCO2e').size() > 0",
    "proposal.external_registry != '' && !proposal.external_registry.matches('^[A-Z]{3}[0-9]{2}$')",
    "double(proposal.quantity) * 0.02 > 1000000.0",
    "proposal.units.all(u, u.quantity > 0) && proposal.vintages.exists(v, v > 2100)",
    "now < timestamp('2000-01-01T00:00:00Z') || proposal.proposed_at.getFullYear() < 2000",
    "proposal.approaches.exists(a, a.startsWith('BLOCKED-'))",
    "proposal.source.present && proposal.source.holder == proposal.destination.holder && proposal.quantity > 10000000",
]


def catalogue() -> Snapshot:
    versions: dict[str, list[RuleVersion]] = {}
    for rule in read_pack("article6-basic").rules:
        version = to_version(rule.name, 1, VersionIn.model_validate(rule.model_dump(exclude={"name"})), T0)
        validate_version(version, plugins=installed_plugins(), now=T0)
        versions[rule.name] = [version]
    # The pack's rules, then as many realistic extras as make 20 bound rules.
    for i, expression in enumerate(EXTRA[: 20 - len(versions)]):
        name = f"bench-rule-{i:02d}"
        version = RuleVersion(name, 1, "business", Deny(f"bench rule {i}"), expression, effective_from=T0)
        validate_version(version, plugins={}, now=T0)
        versions[name] = [version]
    bindings = [
        Binding(f"b{i}", name, "registry", "*", PACK_PARAMS.get(name, {}), False, T0)
        for i, name in enumerate(sorted(versions))
    ]
    return Snapshot(sequence=1, versions=versions, bindings=bindings, plugins=installed_plugins())


def trivial_catalogue() -> Snapshot:
    version = RuleVersion("trivial", 1, "business", Deny("never"), "false", effective_from=T0)
    return Snapshot(sequence=1, versions={"trivial": [version]}, bindings=[Binding("b", "trivial", "registry", "*")])


def sample_proposal() -> dict[str, Any]:
    units = [samples.unit(1 + i * 1000, 200 + i * 1000, vintage=2020 + i) for i in range(5)]
    return samples.proposal(units=units, proposed_at=T0 + timedelta(days=1))


def full(snapshot: Snapshot, payload: dict[str, Any]) -> Callable[[], Any]:
    def run() -> Any:
        proposal = ProposalSubmitted.model_validate(payload)
        verdict = evaluate_proposal(
            snapshot, proposal_context(proposal.model_dump()), at=proposal.proposed_at, evaluated_at=T0
        )
        return VerdictGiven.model_validate(verdict).model_dump(mode="json")

    return run


def rules_only(snapshot: Snapshot, payload: dict[str, Any]) -> Callable[[], Any]:
    context = proposal_context(ProposalSubmitted.model_validate(payload).model_dump())
    at = context["proposed_at"]
    return lambda: evaluate_proposal(snapshot, context, at=at, evaluated_at=T0)


def python_predicates(payload: dict[str, Any]) -> Callable[[], Any]:
    context = proposal_context(ProposalSubmitted.model_validate(payload).model_dump())

    def check(p: dict[str, Any], i: int) -> bool:
        return bool(p["quantity"] > 10**9 + i or any(u["vintage"] < 1990 for u in p["units"]))

    return lambda: [check(context, i) for i in range(20)]


def timed(work: Callable[[], Any], seconds: float) -> dict[str, Any]:
    for _ in range(200):  # warm caches and compiled programs
        work()
    gc.collect()
    samples_ns: list[int] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        work()
        samples_ns.append(time.perf_counter_ns() - start)
    ms = sorted(s / 1e6 for s in samples_ns)
    return {
        "evaluations": len(ms),
        "p50_ms": round(statistics.median(ms), 4),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 4),
        "max_ms": round(ms[-1], 4),
        "mean_ms": round(statistics.fmean(ms), 4),
    }


def measure(seconds: float = 5.0) -> dict[str, Any]:
    snapshot, payload = catalogue(), sample_proposal()
    verdict = full(snapshot, payload)()
    assert verdict["outcome"] == "accept" and len(verdict["rules"]) == 20, verdict
    per = max(1.0, seconds / 4)
    return {
        "bound_rules": len(verdict["rules"]),
        "rules_fired": sum(r["fired"] for r in verdict["rules"]),
        "supplementary_operations": len(verdict["supplementary_operations"]),
        "full_20_rules": timed(full(snapshot, payload), per),
        "rules_only_20_rules": timed(rules_only(snapshot, payload), per),
        "reference_trivial_cel": timed(full(trivial_catalogue(), payload), per),
        "reference_python_20_predicates": timed(python_predicates(payload), per),
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    p99 = result["full_20_rules"]["p99_ms"]
    reference = result["reference_trivial_cel"]["p99_ms"]
    return [
        {
            "target": f"rule evaluation p99 <= {P99_TARGET_MS:.0f} ms with {result['bound_rules']} bound rules",
            "measured": f"p99 {p99:.3f} ms (one trivial CEL rule: {reference:.3f} ms)",
            "pass": p99 <= P99_TARGET_MS,
        }
    ]


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Rule evaluation, in process: {result['bound_rules']} bound rules ({result['rules_fired']} fire, "
        f"{result['supplementary_operations']} supplementary operations), a transfer of 5 unit ranges",
        f"{'measurement':<34}{'evaluations':>12}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    for key in ("full_20_rules", "rules_only_20_rules", "reference_trivial_cel", "reference_python_20_predicates"):
        m = result[key]
        lines.append(f"{key:<34}{m['evaluations']:>12,}{m['p50_ms']:>10.3f}{m['p99_ms']:>10.3f}{m['max_ms']:>10.3f}")
    for t in targets(result):
        lines.append(f"{'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['measured']}")
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = measure(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0)
    print(render(outcome))
    sys.exit(0 if all(t["pass"] for t in targets(outcome)) else 1)
