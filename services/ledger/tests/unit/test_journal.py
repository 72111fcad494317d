"""The journal's instants (A6R-48): they never go back, and `verify` refuses a journal whose do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.domain.journal import JournalHead, verify_journal
from registry_contracts.signing import KeyRing

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a6r48_a_clock_gone_back_records_at_the_last_entrys_instant() -> None:
    """After an NTP step back or a restart on a host whose clock is behind, the next entries take
    the last entry's instant: `blocks?at=` between two entries then never shows the later without
    the earlier."""
    head = JournalHead()
    assert head.instant(T) == T
    head.append(T, "open_account", {"n": 1})
    assert head.instant(T - timedelta(seconds=30)) == T
    assert head.instant(T + timedelta(seconds=1)) == T + timedelta(seconds=1)


def test_a6r48_verify_refuses_entries_whose_instants_go_back() -> None:
    head = JournalHead()
    entries = [head.append(T, "open_account", {"n": 1}), head.append(T - timedelta(microseconds=1), "x", {"n": 2})]
    (broken,) = verify_journal(entries, [], KeyRing([]))
    assert broken.sequence == 2 and "before the entry preceding it" in broken.reason
    head = JournalHead()
    in_order = [head.append(T, "open_account", {"n": 1}), head.append(T, "x", {"n": 2})]
    assert list(verify_journal(in_order, [], KeyRing([]))) == []
