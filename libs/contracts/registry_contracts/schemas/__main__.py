"""`python -m registry_contracts.schemas`: rewrite the committed JSON Schemas from the models."""

from registry_contracts.schemas import SCHEMA_DIR, write_schemas

changed = write_schemas()
for name in changed:
    print(f"changed {SCHEMA_DIR / name}")
print(f"{len(changed)} schema file(s) changed")
