"""Per-client throttling and per-account lockout, kept in the database so that every instance of
the service sees the same counts and a restart forgets none (the arithmetic is domain.throttle).

A client is what the failures are counted against: the address a sign-in comes from, or a
registered external system at the token endpoint (under a key no address can be)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.domain.errors import Refused
from identity.domain.throttle import ClientRecord, ThrottlePolicy, after_failure, locks_account, retry_after
from identity.service_layer.unit import SYSTEM, Identity, Unit


async def _record(conn: AsyncConnection, client: str, lock: bool = False) -> ClientRecord:
    row = (
        await conn.execute(
            text(
                "SELECT failures, last_failure, blocked_until FROM login_throttle WHERE client = :c"
                + (" FOR UPDATE" if lock else "")
            ),
            {"c": client},
        )
    ).first()
    return ClientRecord(row.failures, row.last_failure, row.blocked_until) if row else ClientRecord()


async def _judge_alone(unit: Unit, client: str) -> None:
    """Hold the client's lock until the transaction ends."""
    await unit.conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('login-throttle:' || :c, 0))"), {"c": client}
    )


async def check_client(unit: Unit, client: str, message: str = "Too many failed attempts from your address") -> None:
    """429 with Retry-After while the client must wait; its attempt is not even looked at.

    A client's attempts are judged one at a time (the lock lasts until the attempt's transaction
    ends), so concurrent guesses cannot all pass before the first failure is counted."""
    await _judge_alone(unit, client)
    wait = retry_after(await _record(unit.conn, client), unit.now)
    if wait:
        raise Refused(
            429,
            "too_many_attempts",
            f"{message}; retry in {wait} s.",
            retry_after=wait,
        )


async def client_failed(identity: Identity, unit: Unit, client: str, policy: ThrottlePolicy | None = None) -> None:
    """Count a failure against the client, under `policy` (by default the one for sign-ins)."""
    record = after_failure(await _record(unit.conn, client, lock=True), unit.now, policy or identity.throttle)
    await unit.conn.execute(
        text(
            "INSERT INTO login_throttle (client, failures, last_failure, blocked_until) VALUES (:c, :f, :l, :b) "
            "ON CONFLICT (client) DO UPDATE SET failures = :f, last_failure = :l, blocked_until = :b"
        ),
        {"c": client, "f": record.failures, "l": record.last_failure, "b": record.blocked_until},
    )


async def client_succeeded(unit: Unit, client: str) -> None:
    await unit.conn.execute(text("DELETE FROM login_throttle WHERE client = :c"), {"c": client})


async def forget_client(unit: Unit, client: str) -> int:
    """An administrator's reset: the client's failures are forgotten and any wait ends; answers how
    many failures there were. Under the client's lock, so an attempt being judged finishes first."""
    await _judge_alone(unit, client)
    failures = await unit.conn.scalar(
        text("DELETE FROM login_throttle WHERE client = :c RETURNING failures"), {"c": client}
    )
    return int(failures or 0)


async def account_failed(identity: Identity, unit: Unit, user_id: str) -> bool:
    """Count a failed sign-in against the account; True when this failure locked it."""
    failures = await unit.conn.scalar(
        text("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = :u RETURNING failed_logins"),
        {"u": user_id},
    )
    if locks_account(int(failures or 0), identity.throttle):
        locked = await unit.conn.execute(
            text("UPDATE users SET locked_at = :now WHERE id = :u AND locked_at IS NULL"),
            {"now": unit.now, "u": user_id},
        )
        if locked.rowcount:
            await unit.record("user.locked", SYSTEM, subject=user_id, failed_logins=int(failures or 0))
            return True
    return False
