"""Failures of a step that a retry cannot cure. Free of imports: the DAG's retry policy names them."""


class SystemicQualityFailure(Exception):
    """Too many records fail at once: a wrong mapping or a half-empty pull, not bad records."""
