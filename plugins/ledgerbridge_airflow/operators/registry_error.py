"""Stands in for a legal entity whose registry entry is invalid: fails with the registry's message."""
from __future__ import annotations

from airflow.sdk import BaseOperator


class InvalidRegistryEntry(Exception):
    pass


class RegistryErrorOperator(BaseOperator):
    ui_color = "#fee2e2"

    def __init__(self, *, message: str, **kwargs):
        super().__init__(retries=0, **kwargs)
        self.message = message

    def execute(self, context):
        raise InvalidRegistryEntry(f"{self.message} — fix include/config/legal_entities.yaml")
