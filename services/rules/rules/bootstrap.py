"""Wiring of the rules service: Pluggable, versioned business and compliance rules."""

from registry_platform.service import app_factory, service_definition

DEFINITION = service_definition("rules", __file__, description="Pluggable, versioned business and compliance rules.")
create_app = app_factory(DEFINITION)
