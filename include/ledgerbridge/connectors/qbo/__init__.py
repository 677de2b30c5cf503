"""QuickBooks Online: REST client, faults, tokens and the mapping of hub records to QBO objects."""
