"""Identifier formats fixed by the AEF and ISO, as opposed to the lists of codes in the data file."""

import re

import pycountry

_ISO3 = re.compile(r"[A-Z]{3}")
_PARTY_REGISTRY_ID = re.compile(r"[A-Z]{3}[0-9]{2}")
_COOPERATIVE_APPROACH_ID = re.compile(r"CA[0-9]{4}")


class UnknownCode(LookupError):
    """A code that the nomenclature (or ISO 3166-1) does not define."""


def is_party_code(code: str) -> bool:
    """True for an ISO 3166-1 alpha-3 country code, in upper case as the registry stores it."""
    # pycountry matches case-insensitively; the registry only accepts the canonical upper case.
    return bool(_ISO3.fullmatch(code)) and pycountry.countries.get(alpha_3=code) is not None


def party_name(code: str) -> str:
    country = pycountry.countries.get(alpha_3=code) if _ISO3.fullmatch(code) else None
    if country is None:
        raise UnknownCode(f"{code!r} is not an ISO 3166-1 alpha-3 country code")
    return str(country.name)


def is_party_registry_id(code: str) -> bool:
    """The AEF format of a Party ITMO registry id, e.g. CHE01 (format only, not membership)."""
    return bool(_PARTY_REGISTRY_ID.fullmatch(code))


def is_cooperative_approach_id(code: str) -> bool:
    """The AEF format of a cooperative approach id: "CA" and four digits, e.g. CA0001."""
    return bool(_COOPERATIVE_APPROACH_ID.fullmatch(code))
