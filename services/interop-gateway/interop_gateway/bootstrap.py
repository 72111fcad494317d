"""Wiring of the interop-gateway service: Signed inter-registry protocol and external connectors."""

from registry_platform.service import app_factory, service_definition

DEFINITION = service_definition(
    "interop-gateway", __file__, description="Signed inter-registry protocol and external connectors."
)
create_app = app_factory(DEFINITION)
