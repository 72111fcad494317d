"""People and their access (A6R-3, A6R-4, A6R-13, A6R-50): user records, identity verification,
activation (link by email, code by phone), and whole-registry access suspension — all through the
identity service, which decides who may do what."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from web.adapters.backends import ServiceError
from web.domain.access import grantable_roles
from web.domain.forms import is_uuid, missing
from web.domain.people_forms import evidence, evidence_problems, grant_body, new_person_problems, not_done, user_body
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import ACTION, field_errors

router = APIRouter(route_class=PageRoute)
USER_FIELDS = {
    "email": "email",
    "name": "name",
    "date_of_birth": "date_of_birth",
    "nationality": "nationality",
    "duplicate_user": "email",
    "value": "phone",
    "contacts": "phone",
    "invalid_email": "email",
}
GRANT_FIELDS = {
    "role": "role",
    "section": "section",
    "account": "account",
    "cooperative_approach": "cooperative_approach",
    "invalid_scope": "section",
    "account_not_in_section": "account",
    "unknown_role": "role",
    "not_authorized": "role",
}


async def _users_page(
    page: Page, values: dict[str, str], status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    q = page.request.query_params
    try:
        answer = await page.call(
            "identity",
            "GET",
            "/users",
            params={"email": q.get("find"), "cursor": q.get("cursor"), "limit": 50},
        )
    except ServiceError as exc:
        answer = {"items": [], "next": None}
        errors = {**(errors or {}), "search": exc.message}
    return page.render(
        "users.html",
        status=status,
        title="People and access",
        users=answer["items"],
        next=answer.get("next"),
        values=values,
        errors=errors or {},
        roles=grantable_roles(page.grants),
        may_verify=page.may("users.verify"),
    )


@router.get("/users", response_class=HTMLResponse, dependencies=[signed_in("users.manage")])
async def users(request: Request) -> Response:
    page = Page.of(request)
    # First shown with the identity check and the activation ticked; a refused form keeps what was sent.
    first = {"role": request.query_params.get("role", ""), "verified": "yes", "send_activation": "yes"}
    return await _users_page(page, first)


@router.post("/users", response_class=HTMLResponse, dependencies=[signed_in("users.manage")])
async def create_user(request: Request) -> Response:
    """Add a person in one go: record, verification, role and activation, each by identity."""
    page = Page.of(request)
    form = await page.form()
    verifying = bool(form.get("verified")) and page.may("users.verify")
    errors = new_person_problems(form, verifying=verifying)
    if errors:
        return await _users_page(page, form, 400, errors)
    try:
        created = await page.call("identity", "POST", "/users", json=user_body(form))
    except ServiceError as exc:
        return await _users_page(page, form, 400, field_errors(exc, USER_FIELDS))
    user_id = created["user_id"]
    notes = [f"{form['name']} was added."]
    steps: list[tuple[str, str, str, dict[str, Any] | None]] = []
    if verifying:
        steps.append(("Identity verification recorded.", "POST", f"/users/{user_id}/verifications", evidence(form)))
    if form.get("role"):
        steps.append((f"Role {form['role'].replace('_', ' ')} granted.", "POST", "/grants", grant_body(user_id, form)))
    if form.get("send_activation") and page.may("users.verify"):
        steps.append(
            ("Activation sent: a link by email and a code by phone.", "POST", f"/users/{user_id}/activations", None)
        )
    for n, (note, method, path, body) in enumerate(steps):
        try:
            await page.call("identity", method, path, json=body)
            notes.append(note)
        except ServiceError as exc:
            left = not_done([p for _, _, p, _ in steps[n + 1 :]])
            page.flash(f"{' '.join(notes)} But: {field_errors(exc, {})[ACTION]}{left}", "error")
            return page.redirect(f"/users/{user_id}")
    page.flash(" ".join(notes), "success")
    return page.redirect(f"/users/{user_id}")


async def user_page(
    page: Page,
    user_id: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The person's page; after a refusal, `values` is the form that was sent, so its fields keep
    what the administrator typed (the page's forms have no secrets to hold back); for an
    authorization's change, its `grant_id` and the `action` chosen in its row."""
    user = await page.call("identity", "GET", f"/users/{user_id}")
    grants = await page.collect("identity", "/grants", {"user_id": user_id}, pages=2)
    credentials = None
    if page.may("users.verify"):
        try:
            credentials = await page.call("identity", "GET", f"/users/{user_id}/credentials")
        except ServiceError:
            credentials = None
    return page.render(
        "user.html",
        status=status,
        title=user.get("name") or user.get("email"),
        user=user,
        grants=grants,
        credentials=credentials,
        roles=grantable_roles(page.grants),
        errors=errors or {},
        values=values or {},
        may_verify=page.may("users.verify"),
        may_impersonate=page.may("impersonate"),
        may_anonymise=page.may("users.anonymise"),
        may_read_log=page.may("identity_log"),
    )


@router.get("/users/{user_id}", response_class=HTMLResponse, dependencies=[signed_in("users.manage")])
async def user(request: Request, user_id: str) -> Response:
    page = Page.of(request)
    return await user_page(page, user_id)


async def _act(
    page: Page,
    user_id: str,
    note: str,
    method: str,
    path: str,
    body: Any,
    fields: dict[str, str],
    form: dict[str, str] | None = None,
) -> Response:
    try:
        await page.call("identity", method, path, json=body)
    except ServiceError as exc:
        return await user_page(page, user_id, 400, field_errors(exc, fields), form)
    page.flash(note, "success")
    return page.redirect(f"/users/{user_id}")


@router.post("/users/{user_id}/verification", response_class=HTMLResponse, dependencies=[signed_in("users.verify")])
async def verify(request: Request, user_id: str) -> Response:
    page = Page.of(request)
    form = await page.form()
    problems = evidence_problems(form)
    if problems:
        return await user_page(page, user_id, 400, problems, form)
    body = evidence(form)
    body["outcome"] = "rejected" if form.get("outcome") == "rejected" else "verified"
    return await _act(
        page,
        user_id,
        "The identity verification was recorded.",
        "POST",
        f"/users/{user_id}/verifications",
        body,
        {"evidence": "document_number"},
        form,
    )


@router.post("/users/{user_id}/activation", response_class=HTMLResponse, dependencies=[signed_in("users.verify")])
async def send_activation(request: Request, user_id: str) -> Response:
    page = Page.of(request)
    return await _act(
        page,
        user_id,
        "Activation sent: a link by email and a code by phone.",
        "POST",
        f"/users/{user_id}/activations",
        None,
        {"user_not_verified": "activation"},
    )


@router.post("/users/{user_id}/access", response_class=HTMLResponse, dependencies=[signed_in("users.verify")])
async def set_access(request: Request, user_id: str) -> Response:
    """Suspend or restore a user's access to the whole registry (A6R-50; A6R-56 system administrators)."""
    page = Page.of(request)
    form = await page.form()
    status = "suspended" if form.get("status") == "suspended" else "active"
    return await _act(
        page,
        user_id,
        f"Access is now {status}.",
        "PUT",
        f"/users/{user_id}/access",
        {"status": status, "reason": form.get("access_reason", "")},
        {"reason": "access_reason"},
        form,
    )


@router.post("/users/{user_id}/unlock", response_class=HTMLResponse, dependencies=[signed_in("users.verify")])
async def unlock(request: Request, user_id: str) -> Response:
    """Identity locks a user after repeated failed sign-ins (A6R-6) until an administrator unlocks."""
    page = Page.of(request)
    note = "Sign-in is unlocked; the failed attempts are forgotten."
    return await _act(page, user_id, note, "POST", f"/users/{user_id}/unlock", None, {})


@router.post(
    "/users/{user_id}/credentials/{credential_id}/revocation",
    response_class=HTMLResponse,
    dependencies=[signed_in("users.verify")],
)
async def revoke_credential(request: Request, user_id: str, credential_id: str) -> Response:
    """A credential suspected of compromise is revoked at once (A6R-5); identity ends every session
    of the person with it."""
    page = Page.of(request)
    note = "The credential is revoked, and every session of the person has ended."
    path = f"/users/{user_id}/credentials/{credential_id}"
    return await _act(page, user_id, note, "DELETE", path, None, {})


@router.post("/users/{user_id}/anonymisation", response_class=HTMLResponse, dependencies=[signed_in("users.anonymise")])
async def anonymise(request: Request, user_id: str) -> Response:
    """Erase a person's data from identity's records, history included (A6R-49). It cannot be undone,
    so the form asks for a reason and for the administrator to say so."""
    page = Page.of(request)
    form = await page.form()
    errors = missing(
        form,
        {
            "anonymisation_reason": "Give the reason, e.g. the request you are acting on.",
            "irreversible": "Confirm that you understand this cannot be undone.",
        },
    )
    if errors:
        return await user_page(page, user_id, 400, errors, form)
    note = "The person's data is erased; their access has ended."
    body = {"reason": form["anonymisation_reason"]}
    fields = {"reason": "anonymisation_reason", "cannot_anonymise_self": "anonymisation_reason"}
    return await _act(page, user_id, note, "POST", f"/users/{user_id}/anonymise", body, fields, form)


@router.post("/users/{user_id}/grants", response_class=HTMLResponse, dependencies=[signed_in("users.manage")])
async def grant(request: Request, user_id: str) -> Response:
    page = Page.of(request)
    form = await page.form()
    errors = missing(form, {"role": "Choose the role to grant."})
    if errors:
        return await user_page(page, user_id, 400, errors, form)
    return await _act(
        page,
        user_id,
        f"Role {form['role'].replace('_', ' ')} granted.",
        "POST",
        "/grants",
        grant_body(user_id, form),
        GRANT_FIELDS,
        form,
    )


@router.post("/grants/{grant_id}/change", response_class=HTMLResponse, dependencies=[signed_in("users.manage")])
async def change_grant(request: Request, grant_id: str) -> Response:
    """Suspend, reactivate or revoke one user authorization (A6R-51)."""
    page = Page.of(request)
    form = await page.form()
    action = form.get("action") if form.get("action") in ("suspend", "reactivate", "revoke") else "suspend"
    user_id = form.get("user_id", "")
    body = {"reason": form.get("reason") or None}
    try:
        await page.call("identity", "POST", f"/grants/{grant_id}/{action}", json=body)
    except ServiceError as exc:
        if is_uuid(user_id):
            # The page again, not a redirect: the refused row keeps the change chosen in it and
            # says why beside it (after a redirect it showed its first choice, which Apply then sent).
            chosen = {"grant_id": grant_id, "action": action}
            return await user_page(page, user_id, 400, field_errors(exc, {}), chosen)
        page.flash(field_errors(exc, {})[ACTION], "error")
    else:
        page.flash(
            {
                "suspend": "The authorization is suspended.",
                "reactivate": "The authorization is active again.",
                "revoke": "The authorization is revoked.",
            }[action],
            "success",
        )
    return page.redirect(f"/users/{user_id}" if user_id else "/users")
