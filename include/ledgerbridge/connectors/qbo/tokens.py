"""Moved to ledgerbridge.connectors.tokens (shared with the Xero connector); kept so old imports work."""
from ledgerbridge.connectors.tokens import EXPIRY_MARGIN, LedgerTokenStore, TokenSet, expires_in

__all__ = ["EXPIRY_MARGIN", "LedgerTokenStore", "TokenSet", "expires_in"]
