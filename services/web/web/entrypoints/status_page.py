"""The first page of the web UI: the registry's service status board, read from reporting over HTTP."""

from __future__ import annotations

import html

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from registry_platform.authz import public

router = APIRouter()

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>International Registry for Article 6.2 ITMOs</title></head>
<body><main><h1>International Registry for Article 6.2 ITMOs</h1>
<h2>Service status</h2>{body}</main></body></html>"""


@router.get("/", response_class=HTMLResponse, dependencies=[public()])
async def status_page(request: Request) -> HTMLResponse:
    settings = request.app.state.runtime.settings
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            response = await client.get(f"{settings.reporting_url}/services")
            response.raise_for_status()
            instances = response.json()
    except httpx.HTTPError:
        return HTMLResponse(
            PAGE.format(body="<p role='alert'>The reporting service is not reachable.</p>"), status_code=503
        )
    rows = "".join(
        f"<tr><td>{html.escape(i['service'])}</td><td>{html.escape(i['version'] or '')}</td>"
        f"<td>{html.escape(i['last_seen_at'])}</td></tr>"
        for i in instances
    )
    table = (
        "<table><thead><tr><th scope='col'>Service</th><th scope='col'>Version</th>"
        f"<th scope='col'>Last seen</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return HTMLResponse(PAGE.format(body=table))
