"""Events every service emits about itself (produced by registry_platform)."""

from typing import Annotated

from pydantic import Field

from registry_contracts.events.registry import EventPayload, event_type
from registry_contracts.timestamps import UtcDatetime

Name = Annotated[str, Field(min_length=1)]


@event_type("platform.ServiceStarted", 1)
class ServiceStarted(EventPayload):
    service: Name
    instance_id: Name
    version: Name
    started_at: UtcDatetime


@event_type("platform.ServiceHeartbeat", 1)
class ServiceHeartbeat(EventPayload):
    service: Name
    instance_id: Name
    sent_at: UtcDatetime
