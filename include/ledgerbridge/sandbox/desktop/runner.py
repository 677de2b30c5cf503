"""`python -m ledgerbridge.sandbox.desktop`: the agent polling a local drop directory."""
from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import date
from pathlib import Path

from ledgerbridge.filedrop import DEFAULT_MAX_BYTES, LocalFileSystem
from ledgerbridge.filedrop.protocol import ENTITY_ID, PROTOCOL_VERSION, VERSIONS

from .agent import DesktopAgent
from .company import DesktopCompany, seed_demo, seed_sub_ledgers

log = logging.getLogger("ledgerbridge.sandbox.desktop")


def _entity(value: str) -> str:
    if not ENTITY_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an entity id (lower-case letters, digits, '_')")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="desktop-agent", description="A QuickBooks Desktop agent sandbox: "
                                     "consumes to_accounting/ files of one entity and answers them.")
    parser.add_argument("--root", type=Path, required=True, help="the drop folder (holds one directory per entity)")
    parser.add_argument("--entity", type=_entity, required=True, help="the entity id whose directory to serve")
    parser.add_argument("--state", type=Path, required=True, help="the company's state file (created when missing)")
    parser.add_argument("--company-id", help="the company file's id (new state only; default QBD-<entity>)")
    parser.add_argument("--closing-date", type=date.fromisoformat, help="refuse transactions on or before this "
                        "date (YYYY-MM-DD); kept in the state file")
    parser.add_argument("--empty", action="store_true", help="start a new company without the demo lists")
    parser.add_argument("--sub-ledgers", action="store_true", help="new state only: a company keeping journal codes "
                        "and auxiliary accounts (a Sage- or EBP-like system, not QuickBooks Desktop), seeded with "
                        "French journals and its parties' auxiliary accounts unless --empty")
    parser.add_argument("--protocol-version", type=int, choices=VERSIONS, default=PROTOCOL_VERSION,
                        help=f"the protocol version the agent publishes in (default {PROTOCOL_VERSION}; journal codes "
                        "and auxiliary accounts from 8)")
    parser.add_argument("--no-publish", action="store_true", help="do not upload lists, orders and payments")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="refuse larger inbound files")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="poll once and exit")
    mode.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between polls (default 2)")
    return parser.parse_args(argv)


def open_company(args: argparse.Namespace) -> DesktopCompany:
    if args.state.exists():
        company = DesktopCompany.load(args.state)
        if company.entity_id != args.entity:
            raise SystemExit(f"{args.state} holds entity {company.entity_id!r}, not {args.entity!r}")
    else:
        company = DesktopCompany(company_id=args.company_id or f"QBD-{args.entity}", entity_id=args.entity,
                                 sub_ledgers=args.sub_ledgers)
        if not args.empty:
            seed_demo(company)
            if args.sub_ledgers:
                seed_sub_ledgers(company)
    if args.closing_date:
        company.closing_date = args.closing_date
    return company


def poll(agent: DesktopAgent, fs: LocalFileSystem, entity: str, publish: bool) -> None:
    agent.process(fs, entity)
    if publish:
        agent.publish_lists(fs, entity)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent = DesktopAgent(open_company(args), state_file=args.state, max_bytes=args.max_bytes,
                         protocol_version=args.protocol_version)
    agent.save()
    fs = LocalFileSystem(args.root)
    log.info("desktop agent for %s (company %s) on %s", args.entity, agent.company.company_id, args.root)
    if args.once:
        poll(agent, fs, args.entity, not args.no_publish)
        return 0
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    while not stop.is_set():
        poll(agent, fs, args.entity, not args.no_publish)
        stop.wait(args.interval)
    log.info("desktop agent stopped; state in %s", args.state)
    return 0
