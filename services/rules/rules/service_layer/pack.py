"""Rule packs: rules shipped as data files in this package (rules/pack/*.yaml), loaded through the
same checks and journal as changes made through the API (A6R-38).

Loading is idempotent: a rule whose latest version already says what the pack says is left as it
is; any other gets a new version, effective now. The whole pack loads in one transaction, or not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from registry_platform.auth import Principal
from rules.adapters.repository import Repository
from rules.domain.catalogue import definition_to_json
from rules.domain.validation import RuleRefused
from rules.service_layer.commands import PackIn, VersionIn, to_version
from rules.service_layer.configuration import add_version, pinned
from rules.service_layer.service import RulesService

PACK_DIR = Path(__file__).resolve().parents[1] / "pack"


def shipped_packs() -> dict[str, Path]:
    return {path.stem: path for path in sorted(PACK_DIR.glob("*.yaml"))}


def read_pack(source: str | Path) -> PackIn:
    """A shipped pack by name, or a pack file by path."""
    path = shipped_packs().get(str(source)) or Path(source)
    if not path.is_file():
        raise RuleRefused("unknown_pack", f"no rule pack {source}; shipped: {', '.join(shipped_packs())}", status=404)
    try:
        return PackIn.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise RuleRefused("invalid_pack", f"rule pack {path.name} is not valid: {exc}") from exc


async def load_pack(service: RulesService, conn: AsyncConnection, pack: PackIn, caller: Principal) -> dict[str, Any]:
    repo = Repository(conn)
    await repo.lock_journal()
    added, unchanged = [], []
    for item in pack.rules:
        spec = VersionIn.model_validate(item.model_dump(exclude={"name"}))
        existing = await repo.versions(item.name)
        latest = existing[-1] if existing else None
        # A plugin whose code changed since its latest version gets a new version, pinning the new code.
        wanted = definition_to_json(pinned(service, to_version(item.name, 1, spec, service.clock())))
        if latest is not None and latest.retire_at is None and definition_to_json(latest) == wanted:
            unchanged.append(latest.ref)
            continue
        try:
            version = await add_version(
                service, conn, rule=item.name, spec=spec, caller=caller, pack=f"{pack.pack}@{pack.version}"
            )
        except RuleRefused as exc:
            raise RuleRefused(
                exc.code, f"rule {item.name} of pack {pack.pack}: {exc.message}", exc.status, **exc.details
            ) from exc
        added.append(version["ref"])
    return {"pack": pack.pack, "version": pack.version, "added": added, "unchanged": unchanged}
