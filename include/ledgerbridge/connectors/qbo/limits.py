"""Moved to ledgerbridge.connectors.limits (shared with the Xero connector); kept so old imports work."""
from ledgerbridge.connectors.limits import WINDOW_SECONDS, RealmLimits, RealmRateLimiter, limiter_for

__all__ = ["WINDOW_SECONDS", "RealmLimits", "RealmRateLimiter", "limiter_for"]
