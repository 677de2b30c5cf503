"""A test-only auth manager: Airflow's SimpleAuthManager, whose roles are global, plus one user who may
read and act on one DAG only (`ledgerbridge__acme`) and on nothing else.

Subclassing the auth manager and overriding `is_authorized_dag` is Airflow's own extension point for
per-DAG permissions (the FAB and Keycloak managers do it there); this is not LedgerBridge code standing
in for itself. SimpleAuthManager is used as it is for every other user.
"""
from __future__ import annotations

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

ONE_DAG_USER = "acme_clerk"
ONE_DAG = "ledgerbridge__acme"


class OneDagAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        if user.get_name() == ONE_DAG_USER:
            return details is not None and details.id == ONE_DAG
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
