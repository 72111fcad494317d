"""Wiring of the web service: UI and backend-for-frontend."""

from registry_platform.service import app_factory, service_definition
from web.entrypoints.status_page import router as status_router
from web.settings import WebSettings

DEFINITION = service_definition(
    "web", __file__, description="Web UI and backend-for-frontend.", routers=[status_router]
)
create_app = app_factory(DEFINITION, WebSettings)
