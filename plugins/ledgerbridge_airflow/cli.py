"""`ledgerbridge-airflow`: what an Airflow deployment needs before LedgerBridge's DAGs can run.

    ledgerbridge-airflow setup      (or: python -m ledgerbridge_airflow.cli setup)

creates the pool of every connector spec (connectors/specs.py) in Airflow's metadata database, after
`airflow db migrate`. Idempotent: a pool that exists keeps the slots an operator gave it; only its
description follows the spec. Loaded by Airflow's plugin manager too, so nothing runs at import.
"""
from __future__ import annotations

import argparse
import sys


def setup_pools() -> list[str]:
    """Creates or updates each spec's pool; one line per pool saying what was done."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session
    from ledgerbridge.connectors.specs import ACCOUNTING_SPECS

    report = []
    with create_session() as session:
        for wanted in dict.fromkeys(spec.pool for spec in ACCOUNTING_SPECS):
            pool = Pool.get_pool(wanted.name, session=session)
            if pool is None:
                session.add(Pool(pool=wanted.name, slots=wanted.slots, description=wanted.description,
                                 include_deferred=False))
                report.append(f"pool {wanted.name}: created with {wanted.slots} slots")
            elif pool.description != wanted.description:
                pool.description = wanted.description
                report.append(f"pool {wanted.name}: description updated; keeps its {pool.slots} slots")
            else:
                report.append(f"pool {wanted.name}: exists with {pool.slots} slots; unchanged")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledgerbridge-airflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="create the Airflow pools of every connector kind (after `airflow db migrate`)")
    parser.parse_args(argv)
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        report = setup_pools()
    except (OperationalError, ProgrammingError) as exc:
        print(f"ledgerbridge-airflow setup: Airflow's metadata database is not ready ({exc.orig}): "
              "run `airflow db migrate` first", file=sys.stderr)
        return 1
    for line in report:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
