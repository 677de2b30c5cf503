"""Failures of a step that a retry cannot cure. Free of imports: the DAG's retry policy names them."""


class SystemicQualityFailure(Exception):
    """Too many records fail at once: a wrong mapping or a half-empty pull, not bad records."""


class FiscalYearFecRefused(Exception):
    """A closed fiscal year's FEC cannot be written (a file of its name holds other bytes, an entry it cannot
    hold, a SIREN whose check digit is wrong): a person must act; a retry sees the same. `summary` is the step's."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary
