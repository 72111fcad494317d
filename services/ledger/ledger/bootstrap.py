"""Wiring of the ledger service: sections, accounts, unit blocks, transactions and the journal."""

from registry_platform.service import app_factory, service_definition

DEFINITION = service_definition(
    "ledger", __file__, description="Sole owner of sections, accounts, unit blocks, transactions and journal."
)
create_app = app_factory(DEFINITION)
