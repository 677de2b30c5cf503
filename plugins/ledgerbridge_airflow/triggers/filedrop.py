"""Real-time file drop: a trigger in Airflow's triggerer that polls an entity's inbound directories
and fires only when new files land, so the inbound DAG runs per arrival, never per poll."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

MAX_NAMES_IN_EVENT = 50


class FileDropArrivalTrigger(BaseEventTrigger):
    """Fires for ready files (never `.part` uploads) in from_accounting/ and confirmations/ it has
    not signalled before; a file that stays until the DAG run consumes it fires once."""

    def __init__(self, entity_id: str, poke_interval: float = 5.0):
        super().__init__()
        self.entity_id = entity_id
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("ledgerbridge_airflow.triggers.filedrop.FileDropArrivalTrigger",
                {"entity_id": self.entity_id, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        signalled: set[str] = set()
        while True:
            try:
                ready = await asyncio.to_thread(self._ready_files)
            except Exception as exc:  # noqa: BLE001 - an unreachable server is retried next poll, and said
                self.log.warning("file drop of %s not reachable: %s; polling again in %ss",
                                 self.entity_id, exc, self.poke_interval)
            else:
                new = sorted(ready - signalled)
                signalled = ready  # what was consumed is forgotten; what stays is not signalled twice
                if new:
                    self.log.info("file drop of %s: %d new file(s), e.g. %s", self.entity_id, len(new), new[0])
                    yield TriggerEvent({"entity_id": self.entity_id, "count": len(new),
                                        "files": new[:MAX_NAMES_IN_EVENT]})
            await asyncio.sleep(self.poke_interval)

    def _ready_files(self) -> set[str]:
        from ledgerbridge.registry import load_registry

        from ledgerbridge_airflow.hooks.connections import accounting_hook

        entity = load_registry().get(self.entity_id)
        return accounting_hook(entity).connector(entity).inbound_files()
