"""The ledger's commands refuse at the boundary what the registry does not record (A6R-40)."""

import pytest
from pydantic import ValidationError

from ledger.service_layer.commands import IssueUnits, Selection

SCOPE = {"originating_registry": "GHA01", "issuing_party": "GHA", "activity_id": "GH-1", "vintage": 2024}


@pytest.mark.parametrize("vintage", [1990, 2024, 2100])
def test_a6r40_vintages_the_registry_records(vintage: int) -> None:
    issue = IssueUnits(account="GHA-1", scope={**SCOPE, "vintage": vintage}, quantity=1, first_transferring_party="GHA")
    assert issue.scope.vintage == vintage
    assert Selection(quantity=1, vintage_from=vintage, vintage_to=vintage).vintage_to == vintage


@pytest.mark.parametrize("vintage", [1989, 2101, 24])
def test_a6r40_a_vintage_outside_them_is_refused(vintage: int) -> None:
    with pytest.raises(ValidationError, match="vintage"):
        IssueUnits(account="GHA-1", scope={**SCOPE, "vintage": vintage}, quantity=1, first_transferring_party="GHA")
    with pytest.raises(ValidationError, match="vintage_from"):
        Selection(quantity=1, vintage_from=vintage)
