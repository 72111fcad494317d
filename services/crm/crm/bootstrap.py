"""Wiring of the crm service: Support cases."""

from registry_platform.service import app_factory, service_definition

DEFINITION = service_definition("crm", __file__, description="Support cases.")
create_app = app_factory(DEFINITION)
