"""Wiring of the identity service: Users, credentials, MFA, tokens and grants."""

from registry_platform.service import app_factory, service_definition

DEFINITION = service_definition("identity", __file__, description="Users, credentials, MFA, tokens and grants.")
create_app = app_factory(DEFINITION)
