"""QuickBooks Online: REST client, faults, tokens and the mapping of hub records to QBO objects."""


def connect(entity, conn, ledger, **options):
    """The spec's factory (connectors/specs.py): the entity's company; its rotated tokens live in `ledger`."""
    from ledgerbridge.connectors.factory import quickbooks_online

    return quickbooks_online(conn, ledger, **options)
