"""Common nomenclatures (versioned reference data) and the identifier formats of ISO and the AEF."""

from registry_contracts.nomenclatures.codes import (
    UnknownCode,
    is_cooperative_approach_id,
    is_party_code,
    is_party_registry_id,
    party_name,
)
from registry_contracts.nomenclatures.model import (
    AccountStatus,
    ActivityType,
    Entry,
    Metric,
    Nomenclature,
    NomenclatureVersions,
    RegistryId,
    UnknownVersion,
    load_default,
    load_from_file,
    load_from_text,
)

__all__ = [
    "AccountStatus",
    "ActivityType",
    "Entry",
    "Metric",
    "Nomenclature",
    "NomenclatureVersions",
    "RegistryId",
    "UnknownCode",
    "UnknownVersion",
    "is_cooperative_approach_id",
    "is_party_code",
    "is_party_registry_id",
    "load_default",
    "load_from_file",
    "load_from_text",
    "party_name",
]
