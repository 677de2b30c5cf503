"""The steps of a sync, one module per concern; each step is `step(ctx: RunContext) -> summary`."""
