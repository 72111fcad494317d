"""External systems (A6R-8): registered by a registry administrator with a recorded risk
assessment, narrowly scoped by `external_system` grants, authenticated with `private_key_jwt`
client credentials (RFC 7523 section 2.2) at `POST /oauth/token`. Every call of a registered
client that is looked at is logged.

The client signs a short JWT (the client assertion) with its private key; identity verifies it with
the public JWK registered for the client, and requires iss = sub = client id, an audience naming
this token endpoint (or the issuer), an expiry at most five minutes ahead, and a `jti` never seen
before (a replayed assertion is refused).

A refused request that names a registered client counts against that client as a failed sign-in
counts against an address (domain.throttle): after a few, the client waits, doubling each time, and
until then its failing requests are answered 429 with Retry-After, neither counted nor logged; a
token resets the count. So the call log (one row per failure counted) grows by a bounded number of
rows per client and wait. A correctly signed assertion still gets its token during a wait: client
ids are no secret, and whoever knows one must not be able to keep the system out by failing in its
name (a private key is not guessed, so letting it through costs nothing). Made-up client ids are
neither counted nor logged: they would add rows without bound, and they cost only a lookup.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from identity.domain.errors import Refused, not_found
from identity.domain.grants import Scope, check_scope
from identity.service_layer.grants import insert_grant, live_grant_ids, revoke_in
from identity.service_layer.throttling import check_client, client_failed, client_succeeded, forget_client
from identity.service_layer.tokens import active_grants
from identity.service_layer.unit import Actor, Identity, Unit, new_id
from registry_contracts.signing import b64url_decode
from registry_platform.auth import EXTERNAL_SYSTEM, ISSUER

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["ES256", "ES384", "Ed25519", "EdDSA", "PS256", "RS256"]
MAX_ASSERTION_SECONDS = 300
# Tolerated difference between the client's clock and ours (iat, exp).
CLOCK_SKEW_SECONDS = 30
_PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "k"}
# Starts a client's throttle key: the throttle table also holds sign-in addresses, and no address
# starts with it, so a client and an address never share a count.
THROTTLE_PREFIX = "oauth-client:"
_THROTTLED = (
    "Too many failed token requests for this client; check its registered key, the assertion's "
    "audience and expiry, and its clock"
)


def _public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    if _PRIVATE & set(jwk):
        raise Refused(422, "private_key_sent", "Register the public key only; never send a private key.")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Refused(422, "invalid_jwk", f"That is not a usable public JWK: {exc}") from exc
    public = key.as_dict(private=False)
    public["kid"] = key.thumbprint()
    return public


async def register(
    identity: Identity, actor: Actor, name: str, jwk: dict[str, Any], risk: dict[str, Any], scopes: list[Scope]
) -> dict[str, Any]:
    if risk["level"] == "high" and not risk["mitigations"]:
        raise Refused(422, "mitigations_required", "A high-risk connection needs recorded mitigations.")
    if not scopes:
        raise Refused(422, "scope_required", "An external system is scoped to at least one section or approach.")
    for scope in scopes:
        check_scope(EXTERNAL_SYSTEM, scope)
    public = _public_jwk(jwk)
    system_id = new_id()
    async with identity.unit() as unit:
        try:
            async with unit.conn.begin_nested():
                await unit.conn.execute(
                    text(
                        "INSERT INTO external_systems (id, name, public_jwk, risk_assessment, status, registered_by, "
                        "registered_at) VALUES (:id, :n, CAST(:k AS jsonb), CAST(:r AS jsonb), 'active', :by, :now)"
                    ),
                    {
                        "id": system_id,
                        "n": name,
                        "k": json.dumps(public),
                        "r": json.dumps(risk, default=str),
                        "by": actor.initiator,
                        "now": unit.now,
                    },
                )
        except IntegrityError as exc:
            raise Refused(409, "duplicate_external_system", "An external system of that name exists.") from exc
        await unit.record(
            "external_system.registered",
            actor,
            subject=system_id,
            kid=public["kid"],
            risk_level=risk["level"],
            assessor=risk["assessor"],
        )
        grants = [
            await insert_grant(unit, actor, system_id, EXTERNAL_SYSTEM, s, "external system registered") for s in scopes
        ]
    return {"client_id": system_id, "kid": public["kid"], "grants": grants, "token_endpoint": _endpoint(identity)}


async def disable(identity: Identity, actor: Actor, system_id: str) -> dict[str, Any]:
    async with identity.unit() as unit:
        changed = await unit.conn.execute(
            text("UPDATE external_systems SET status = 'disabled' WHERE id = :id AND status = 'active'"),
            {"id": system_id},
        )
        if not changed.rowcount:
            raise not_found("external_system", system_id)
        for grant_id in await live_grant_ids(unit.conn, system_id):
            await revoke_in(unit, actor, grant_id, "external system disabled")
        await unit.record("external_system.disabled", actor, subject=system_id)
    return {"client_id": system_id, "status": "disabled"}


async def unthrottle(identity: Identity, actor: Actor, system_id: str) -> dict[str, Any]:
    """A registry administrator ends a system's wait once its cause is fixed (a new key, a corrected
    clock), as a locked user is unlocked: its failures are forgotten and its next request is looked at."""
    async with identity.unit() as unit:
        known = await unit.conn.scalar(text("SELECT 1 FROM external_systems WHERE id = :id"), {"id": system_id})
        if not known:
            raise not_found("external_system", system_id)
        failures = await forget_client(unit, THROTTLE_PREFIX + system_id)
        await unit.record("external_system.unthrottled", actor, subject=system_id, failures=failures)
    return {"client_id": system_id, "throttled_until": None}


def _endpoint(identity: Identity) -> str:
    return identity.settings.public_url.rstrip("/") + "/oauth/token"


async def _log_call(unit: Unit, client: str, outcome: str, detail: str | None) -> None:
    """Log a call of a registered client; only those (see above), or the log would grow without bound."""
    await unit.conn.execute(
        text(
            "INSERT INTO external_calls (client_id, at, endpoint, outcome, detail) "
            "VALUES (:c, :at, '/oauth/token', :o, :d)"
        ),
        {"c": client, "at": unit.now, "o": outcome, "d": detail},
    )


async def client_credentials(identity: Identity, form: dict[str, str]) -> dict[str, Any]:
    client = form.get("client_id") or _claimed_issuer(form.get("client_assertion", ""))
    key = THROTTLE_PREFIX + client
    refusal: Refused
    async with identity.unit() as unit:
        # Holds the client's lock until this transaction ends, so that concurrent requests are
        # judged one after another, each seeing the failures counted before it.
        try:
            await check_client(unit, key, _THROTTLED)
            waiting = None
        except Refused as held:
            waiting = held
        system = (
            await unit.conn.execute(
                text("SELECT public_jwk, status FROM external_systems WHERE id::text = :c"), {"c": client}
            )
        ).first()
        try:
            answer = await _token(identity, unit, form, client, system)
        except Refused as refused:
            if system is None:
                raise
            if waiting is not None:
                # Failing while it waits: answered 429, neither counted again nor logged.
                raise waiting from refused
            await client_failed(identity, unit, key, identity.external_throttle)
            await _log_call(unit, client, refused.code, refused.message[:200])
            # Raised once the failure is committed: raising here would roll its count back.
            refusal = refused
        else:
            await client_succeeded(unit, key)
            await _log_call(unit, client, "token_issued", None)
            return answer
    raise refusal


async def _token(identity: Identity, unit: Unit, form: dict[str, str], client: str, system: Any) -> dict[str, Any]:
    if form.get("grant_type") != "client_credentials":
        raise Refused(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise Refused(401, "invalid_client", f"Authenticate with a client_assertion of type {ASSERTION_TYPE}.")
    assertion = form["client_assertion"]
    if system is None or system.status != "active":
        raise Refused(401, "invalid_client", "This client is not registered or is disabled.")
    try:
        key = JWKRegistry.import_key(dict(system.public_jwk))
        claims = jwt.decode(assertion, key, algorithms=ASSERTION_ALGORITHMS).claims
        jwt.JWTClaimsRegistry(
            now=int(unit.now.timestamp()),
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": client},
            sub={"essential": True, "value": client},
            aud={"essential": True, "values": [_endpoint(identity), ISSUER, identity.settings.public_url]},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise Refused(401, "invalid_client", f"The client assertion was refused: {exc}") from exc
    # Compared as a number before it becomes a datetime: a far-future exp (1e300) is none, and
    # JSON as parsed here may carry NaN, which every comparison passes.
    exp = claims["exp"]
    finite = isinstance(exp, int) or (isinstance(exp, float) and math.isfinite(exp))
    if not finite or exp > unit.now.timestamp() + MAX_ASSERTION_SECONDS:
        raise Refused(401, "invalid_client", "A client assertion may live five minutes at most.")
    expires = datetime.fromtimestamp(int(exp), UTC)
    await unit.conn.execute(text("DELETE FROM client_assertions WHERE expires_at < :now"), {"now": unit.now})
    fresh = await unit.conn.execute(
        text("INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (:c, :j, :e) ON CONFLICT DO NOTHING"),
        {"c": client, "j": str(claims["jti"]), "e": expires},
    )
    if not fresh.rowcount:
        raise Refused(401, "invalid_client", "This client assertion was already used (jti replay).")
    grants = await active_grants(unit.conn, client)
    lifetime = identity.settings.access_token_seconds
    token = identity.keys.mint(
        client, grants, amr=("pop",), acr="private_key_jwt", lifetime=lifetime, now=unit.now.timestamp()
    )
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}


def _claimed_issuer(assertion: str) -> str:
    """The `iss` of an assertion before its signature is checked: only to find the key to check it."""
    try:
        payload = json.loads(b64url_decode(assertion.split(".")[1]))
    except (IndexError, ValueError, TypeError):
        return "unknown"
    # Any JSON decodes: only an object's `iss` names a client.
    return str(payload.get("iss", "unknown")) if isinstance(payload, dict) else "unknown"


async def listing(identity: Identity) -> list[dict[str, Any]]:
    """The registered systems; `throttled_until` says until when failed token requests hold one back."""
    async with identity.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT e.id::text AS client_id, e.name, e.public_jwk, e.risk_assessment, e.status, e.registered_by, "
                "e.registered_at, CASE WHEN t.blocked_until > :now THEN t.blocked_until END AS throttled_until "
                "FROM external_systems e LEFT JOIN login_throttle t ON t.client = :prefix || e.id::text "
                "ORDER BY e.registered_at"
            ),
            {"now": identity.clock(), "prefix": THROTTLE_PREFIX},
        )
        return [
            {
                **dict(r._mapping),
                "registered_at": r.registered_at.isoformat(),
                "throttled_until": r.throttled_until.isoformat() if r.throttled_until else None,
            }
            for r in rows
        ]


async def calls(identity: Identity, system_id: str, limit: int, after: int) -> tuple[list[dict[str, Any]], int | None]:
    async with identity.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, at, endpoint, outcome, detail FROM external_calls WHERE client_id = :c AND id > :a "
                "ORDER BY id LIMIT :n"
            ),
            {"c": system_id, "a": after, "n": limit + 1},
        )
        items = [{**dict(r._mapping), "at": r.at.isoformat()} for r in rows]
    return items[:limit], (items[limit - 1]["id"] if len(items) > limit else None)
