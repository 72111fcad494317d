"""Identity refuses to start in production with its development public addresses (A6R-4, A6R-7)."""

from typing import Any

import pytest
from pydantic import ValidationError

from identity.settings import IdentitySettings

SEEDS = {"token_secret": "x" * 40, "signing_seed": "s" * 40, "sealing_seed": "t" * 40}
PUBLIC = {
    "public_url": "https://registry.example.org/api/identity",
    "activation_url": "https://registry.example.org/activate",
    "webauthn_rp_id": "registry.example.org",
    "webauthn_origins": ["https://registry.example.org"],
}


def test_a6r4_a6r7_production_starts_with_the_gateways_public_addresses() -> None:
    settings = IdentitySettings(mode="production", **SEEDS, **PUBLIC)
    assert settings.webauthn_rp_id == "registry.example.org"


def test_a6r4_a6r7_production_refuses_the_development_defaults_and_names_each() -> None:
    with pytest.raises(ValidationError) as refused:
        IdentitySettings(mode="production", **SEEDS)
    message = str(refused.value)
    for variable in (
        "REGISTRY_PUBLIC_URL",
        "REGISTRY_ACTIVATION_URL",
        "REGISTRY_WEBAUTHN_RP_ID",
        "REGISTRY_WEBAUTHN_ORIGINS",
    ):
        assert variable in message
    assert "REGISTRY_PUBLIC_HOST" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("public_url", "http://127.0.0.1:8101"),
        ("public_url", "https://localhost/api/identity"),
        ("public_url", "http://registry.example.org/api/identity"),
        ("activation_url", "https://[::1]:8100/activate"),
        ("activation_url", "https://0.0.0.0/activate"),
        ("activation_url", "http://registry.example.org/activate"),
        ("webauthn_rp_id", "localhost"),
        ("webauthn_rp_id", "app.localhost"),
        ("webauthn_rp_id", ""),
        ("webauthn_origins", ["https://registry.example.org", "http://localhost:8100"]),
        ("webauthn_origins", ["https://127.0.0.2"]),
        ("webauthn_origins", []),
    ],
)
def test_a6r4_a6r7_production_refuses_one_development_value(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=f"REGISTRY_{field.upper()}"):
        IdentitySettings(mode="production", **SEEDS, **(PUBLIC | {field: value}))


def test_a6r4_a6r7_outside_production_the_development_defaults_stay() -> None:
    settings = IdentitySettings(mode="test")
    assert settings.webauthn_rp_id == "localhost"
    assert settings.public_url.startswith("http://127.0.0.1")
