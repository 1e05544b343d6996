"""The CRM sweep as `run` and `jobs run-due` build it (PRODUCT §14)."""

from __future__ import annotations

from bot.hubspot import HubSpot
from bot.runtime import Runtime
from jobs.crm import CrmEvents, PeopleByEmail


def crm_from(runtime: Runtime) -> CrmEvents | None:
    """The sweep over stored CRM events; None when the chat platform cannot find people by
    email (then the events wait, stored)."""
    directory = runtime.directory
    if not isinstance(directory, PeopleByEmail):
        return None
    settings = runtime.settings
    token = settings.hubspot_access_token
    hubspot = (
        HubSpot(api_url=settings.hubspot_api_url, token=token.get_secret_value()) if token else None
    )
    return CrmEvents(
        engine=runtime.engine,
        people=directory,
        hubspot=hubspot,
        locale=settings.locale,
        zone=settings.zone,
        work=settings.work_week,
        room=runtime.room,
    )
