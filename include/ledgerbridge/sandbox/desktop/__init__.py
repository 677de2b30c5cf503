"""A QuickBooks Desktop company behind a file-drop agent (docs/file-drop-protocol.md, "The agent").

`DesktopAgent(company).process(fs, entity_root)` consumes to_accounting/ files and answers in
confirmations/; `publish_lists(fs, entity_root)` uploads lists, purchase orders and payments.
`python -m ledgerbridge.sandbox.desktop --root DIR --entity ID --state FILE [--once|--interval S]`
runs it against a local directory.
"""
from .agent import DesktopAgent, FileOutcome
from .books import Answer, Refused, post_payment
from .company import DesktopCompany, seed_demo, seed_sub_ledgers
from .runner import main

__all__ = ["Answer", "DesktopAgent", "DesktopCompany", "FileOutcome", "Refused", "main", "post_payment", "seed_demo",
           "seed_sub_ledgers"]
