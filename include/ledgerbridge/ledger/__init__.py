"""The ledger: models, sessions and migrations."""
from ledgerbridge.ledger.db import Ledger, migrate

__all__ = ["Ledger", "migrate"]
