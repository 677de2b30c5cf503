"""Xero: REST client (OAuth 2.0 with rotating refresh tokens, tenant header, limits, idempotency) and
the mapping of hub records to Xero objects. Its sandbox is ledgerbridge.sandbox.xero."""


def connect(entity, conn, ledger, **options):
    """The spec's factory (connectors/specs.py): the entity's organisation (tenant); its rotated
    tokens live in `ledger`."""
    from ledgerbridge.connectors.xero.factory import xero

    return xero(conn, ledger, **options)
