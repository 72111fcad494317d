"""The common nomenclatures (ARCHITECTURE section 3): versioned reference data, read from a file.

The lists are data so a new version (later fetched from the CARP, A6R-57) needs no code change.
Each version is a file of its own, `registry-nomenclatures.v<N>.json`, kept beside the earlier ones:
a version's content never changes, so a record judged against it can be judged again against the
same data (the ledger's replay, A6R-48).
"""

import re
from collections.abc import Sequence
from datetime import date
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from registry_contracts.nomenclatures.codes import UnknownCode, is_party_code, is_party_registry_id

DEFAULT_FILE = "registry-nomenclatures.v1.json"
_VERSION_FILE = re.compile(r"^registry-nomenclatures\.v([1-9][0-9]*)\.json$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Entry(_Frozen):
    code: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_+-]+$")]
    label: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]


class AccountStatus(Entry):
    # Who may put an account into this status (A6R-41); empty for the status accounts start in.
    settable_by: tuple[Literal["registry_administrator", "section_administrator"], ...]


class ActivityType(Entry):
    sector: str


class Metric(Entry):
    kind: Literal["ghg", "non_ghg"]
    unit: Annotated[str, Field(min_length=1, description="What one unit of this metric is")]
    # One GHG unit is one tCO2e (A6R-40); a non-GHG metric's conversion is set per cooperative approach.
    tco2e_per_unit: Literal[1] | None

    @model_validator(mode="after")
    def _ghg_units_are_tonnes(self) -> Self:
        if (self.kind == "ghg") != (self.tco2e_per_unit == 1):
            raise ValueError(f"metric {self.code}: tco2e_per_unit is 1 for a GHG metric and null otherwise")
        return self


class RegistryId(Entry):
    kind: Literal["party", "international", "underlying"]
    party: str | None

    @model_validator(mode="after")
    def _format_fits_kind(self) -> Self:
        if self.kind == "party":
            if not (is_party_registry_id(self.code) and self.party == self.code[:3] and is_party_code(self.party)):
                raise ValueError(f"Party registry {self.code}: must be <Party ISO3><2 digits> with party set")
        elif self.party is not None:
            raise ValueError(f"registry {self.code}: only a Party registry names a party")
        if self.kind == "international" and not is_party_registry_id(self.code):
            raise ValueError(f"international registry {self.code}: must match ^[A-Z]{{3}}[0-9]{{2}}$")
        return self


E = TypeVar("E", bound=Entry)


def _find(entries: Sequence[E], code: str, what: str) -> E:
    for entry in entries:
        if entry.code == code:
            return entry
    raise UnknownCode(f"{code!r} is not a known {what}; known: {', '.join(e.code for e in entries)}")


class Nomenclature(_Frozen):
    version: Annotated[int, Field(ge=1)]
    effective_from: date
    account_types: tuple[Entry, ...]
    account_statuses: tuple[AccountStatus, ...]
    action_types: tuple[Entry, ...]
    purposes: tuple[Entry, ...]
    sectors: tuple[Entry, ...]
    activity_types: tuple[ActivityType, ...]
    metrics: tuple[Metric, ...]
    registry_ids: tuple[RegistryId, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        lists: dict[str, Sequence[Entry]] = {
            "account_types": self.account_types,
            "account_statuses": self.account_statuses,
            "action_types": self.action_types,
            "purposes": self.purposes,
            "sectors": self.sectors,
            "activity_types": self.activity_types,
            "metrics": self.metrics,
            "registry_ids": self.registry_ids,
        }
        for name, entries in lists.items():
            codes = [e.code for e in entries]
            if not codes:
                raise ValueError(f"{name} is empty")
            if len(set(codes)) != len(codes):
                raise ValueError(f"{name} has a duplicate code")
        for activity in self.activity_types:
            if not self.is_known_sector(activity.sector):
                raise ValueError(f"activity type {activity.code} names unknown sector {activity.sector!r}")
        return self

    def account_type(self, code: str) -> Entry:
        return _find(self.account_types, code, "account type")

    def account_status(self, code: str) -> AccountStatus:
        return _find(self.account_statuses, code, "account status")

    def action_type(self, code: str) -> Entry:
        return _find(self.action_types, code, "action type")

    def purpose(self, code: str) -> Entry:
        return _find(self.purposes, code, "purpose")

    def sector(self, code: str) -> Entry:
        return _find(self.sectors, code, "sector")

    def activity_type(self, code: str) -> ActivityType:
        return _find(self.activity_types, code, "activity type")

    def metric(self, code: str) -> Metric:
        return _find(self.metrics, code, "metric")

    def registry(self, code: str) -> RegistryId:
        return _find(self.registry_ids, code, "registry id")

    def is_known_account_type(self, code: str) -> bool:
        return any(e.code == code for e in self.account_types)

    def is_known_account_status(self, code: str) -> bool:
        return any(e.code == code for e in self.account_statuses)

    def is_known_action_type(self, code: str) -> bool:
        return any(e.code == code for e in self.action_types)

    def is_known_purpose(self, code: str) -> bool:
        return any(e.code == code for e in self.purposes)

    def is_known_sector(self, code: str) -> bool:
        return any(e.code == code for e in self.sectors)

    def is_known_activity_type(self, code: str) -> bool:
        return any(e.code == code for e in self.activity_types)

    def is_known_metric(self, code: str) -> bool:
        return any(e.code == code for e in self.metrics)

    def is_known_registry(self, code: str) -> bool:
        return any(e.code == code for e in self.registry_ids)


def load_from_text(text: str | bytes) -> Nomenclature:
    """Parse and validate a nomenclature file's content; raises pydantic.ValidationError."""
    return Nomenclature.model_validate_json(text, strict=True)


def load_from_file(path: str | Path) -> Nomenclature:
    """Load an updated nomenclature version from a file."""
    return load_from_text(Path(path).read_bytes())


@cache
def load_default() -> Nomenclature:
    """The nomenclature version shipped with this package (read once)."""
    return load_from_text(files("registry_contracts.nomenclatures").joinpath(DEFAULT_FILE).read_bytes())


class UnknownVersion(LookupError):
    """A nomenclature version that no file at hand holds."""


class NomenclatureVersions:
    """Every nomenclature version at hand, side by side: the files shipped with this package and,
    when given, those of `directory` (a version published after this build, A6R-57). All are read
    and validated here, so a bad file stops its reader at start, not at its first use. `latest` is
    the version new records are judged against."""

    def __init__(self, directory: str | Path | None = None) -> None:
        places: list[Traversable] = [files("registry_contracts.nomenclatures")]
        if directory is not None:
            places.append(Path(directory))
        self._versions: dict[int, Nomenclature] = {}
        for place in places:
            for file in place.iterdir():
                match = _VERSION_FILE.match(file.name)
                if match is None:
                    continue
                number = int(match.group(1))
                nomenclature = load_from_text(file.read_bytes())
                if nomenclature.version != number:
                    raise ValueError(f"{file.name} holds nomenclature version {nomenclature.version}, not {number}")
                known = self._versions.setdefault(number, nomenclature)
                if known != nomenclature:
                    raise ValueError(
                        f"{file} differs from the nomenclature version {number} already at hand: "
                        "a version's content never changes; publish a new version instead"
                    )
        self.latest = self._versions[max(self._versions)]

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._versions))

    def get(self, version: int) -> Nomenclature:
        """The nomenclature of `version`; UnknownVersion if no file at hand holds it."""
        try:
            return self._versions[version]
        except KeyError:
            have = ", ".join(str(v) for v in self.versions)
            raise UnknownVersion(f"nomenclature version {version} is not at hand (versions here: {have})") from None
