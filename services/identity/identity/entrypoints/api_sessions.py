"""Signing in and what follows: activation, password + second factor, refresh, step-up, sign-out,
impersonation, the JWKS, and the OAuth token endpoint for external systems."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from identity.domain.errors import Refused
from identity.entrypoints.deps import Client, Service, SignedIn, signed_in
from identity.service_layer import enrolment, external, login, sessions
from registry_platform.auth import REGISTRY_ADMINISTRATOR
from registry_platform.authz import public, require

router = APIRouter()
Secret = Annotated[str, Field(min_length=1, max_length=512)]


class Activation(BaseModel):
    token: Secret
    code: Secret


class Enrolment(BaseModel):
    enrolment_token: Secret
    password: Annotated[str, Field(max_length=512)]
    totp_code: Annotated[str, Field(max_length=16)]


class PasswordStep(BaseModel):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(max_length=512)]


class Challenge(BaseModel):
    challenge_id: Secret


class SecondFactor(BaseModel):
    method: Literal["totp", "recovery_code", "webauthn"]
    code: Annotated[str | None, Field(max_length=64)] = None
    credential: dict[str, Any] | None = Field(None, description="A WebAuthn PublicKeyCredential as JSON")


class ChallengeAnswer(SecondFactor):
    challenge_id: Secret


class Refresh(BaseModel):
    refresh_token: Secret


class Impersonation(BaseModel):
    user_id: uuid.UUID
    reason: Annotated[str, Field(min_length=3, max_length=500)]


@router.get("/.well-known/jwks.json", tags=["tokens"], dependencies=[public()])
async def jwks(identity: Service) -> dict[str, Any]:
    """The public keys access tokens are signed with; `kid` is each key's RFC 7638 thumbprint."""
    return identity.keys.jwks()


@router.post("/activation", tags=["enrolment"], dependencies=[public()])
async def activate(identity: Service, body: Activation, client: Client) -> dict[str, Any]:
    """Redeem an activation link with the code from the second channel (A6R-4); single use."""
    return await enrolment.start(identity, body.token, body.code, client)


@router.post("/activation/complete", tags=["enrolment"], dependencies=[public()])
async def complete_activation(identity: Service, body: Enrolment) -> dict[str, Any]:
    """Choose a password and confirm the TOTP authenticator; returns recovery codes, shown once."""
    return await enrolment.complete(identity, body.enrolment_token, body.password, body.totp_code)


@router.post("/sessions", tags=["sessions"], dependencies=[public()])
async def sign_in(identity: Service, body: PasswordStep, client: Client) -> dict[str, Any]:
    """The password step: answers an MFA challenge id, never a token (A6R-6)."""
    return await login.password(identity, body.email, body.password, client)


@router.post("/sessions/webauthn-options", tags=["sessions"], dependencies=[public()])
async def sign_in_webauthn_options(identity: Service, body: Challenge) -> dict[str, Any]:
    return await login.webauthn_options(identity, body.challenge_id)


@router.post("/sessions/mfa", tags=["sessions"], dependencies=[public()])
async def sign_in_second_factor(identity: Service, body: ChallengeAnswer, client: Client) -> dict[str, Any]:
    """The second factor: answers an access token and a refresh token."""
    return await login.second_factor(
        identity, body.challenge_id, body.method, client, code=body.code, credential=body.credential
    )


@router.post("/sessions/refresh", tags=["sessions"], dependencies=[public()])
async def refresh(identity: Service, body: Refresh) -> dict[str, Any]:
    """Rotate a refresh token; presenting a rotated one again ends the whole session."""
    return await sessions.refresh(identity, body.refresh_token)


@router.post("/sessions/logout", tags=["sessions"], status_code=204, dependencies=[signed_in()])
async def logout(identity: Service, caller: SignedIn) -> None:
    await sessions.logout(identity, caller)


@router.post("/sessions/step-up/webauthn-options", tags=["sessions"], dependencies=[signed_in()])
async def step_up_options(identity: Service, caller: SignedIn) -> dict[str, Any]:
    return await sessions.step_up_options(identity, caller)


@router.post("/sessions/step-up", tags=["sessions"], dependencies=[signed_in()])
async def step_up(identity: Service, caller: SignedIn, body: SecondFactor) -> dict[str, Any]:
    """A fresh second factor: a new access token whose auth_time is now (elevated operations)."""
    return await sessions.step_up(identity, caller, body.method, code=body.code, credential=body.credential)


@router.post("/impersonation", tags=["sessions"], dependencies=[require(REGISTRY_ADMINISTRATOR, step_up=True)])
async def impersonate(identity: Service, caller: SignedIn, body: Impersonation) -> dict[str, Any]:
    """A short-lived token acting for a user (A6R-43): only that user's grants, `act` = you."""
    return await sessions.impersonate(identity, caller, str(body.user_id), body.reason)


@router.post("/oauth/token", tags=["tokens"], dependencies=[public()])
async def oauth_token(identity: Service, request: Request) -> dict[str, Any]:
    """Client credentials for external systems (A6R-8): private_key_jwt (RFC 7523), form-encoded."""
    # RFC 6749 §4.4: form-encoded only; the boundary's text guard reads form bodies for NULs.
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise Refused(415, "unsupported_media_type", "Send the token request as application/x-www-form-urlencoded.")
    raw = await request.body()
    if len(raw) > 16384:
        raise Refused(413, "request_too_large", "The token request is too large.")
    try:
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise Refused(400, "invalid_request", "Send the token request form-encoded (UTF-8).") from exc
    return await external.client_credentials(identity, form)
