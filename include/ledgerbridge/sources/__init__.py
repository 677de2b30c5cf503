"""Sources of hub data (the source side of the bridge): the SourceConnector protocol (base), the
record schema (records), per-record intake into the ledger (intake), the file feed (feed), and
building an entity's source from its connection (factory)."""
