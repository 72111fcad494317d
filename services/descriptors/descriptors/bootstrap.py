"""Wiring of the descriptors service: Authorizations and first-transfer markers."""

from registry_platform.service import app_factory, service_definition

DEFINITION = service_definition("descriptors", __file__, description="Authorizations and first-transfer markers.")
create_app = app_factory(DEFINITION)
