"""Wiring of the reporting service: read models, dashboards data, AEF and exports."""

from registry_platform.service import app_factory, service_definition
from reporting.entrypoints.services_api import router as services_router

DEFINITION = service_definition(
    "reporting", __file__, description="Read models, dashboards data, AEF and exports.", routers=[services_router]
)
create_app = app_factory(DEFINITION)
