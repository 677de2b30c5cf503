"""A hub feed (docs/hub-feed.md), from an Airflow connection of type `ledgerbridge_feed`: a local folder
or an SFTP server (host key always verified), read by the core's `drop_opener` as a file drop's is.
Its Test button probes the root the way the file drop's does, without the drop's company_id, naming
the entity directories with an inbound/; the feed's tasks read connections of any type with the same
fields (`generic`, `sftp`) alike."""
from __future__ import annotations

from ledgerbridge_airflow.hooks.base import SourceHook
from ledgerbridge_airflow.hooks.sftp_drop import DropSession


class FeedHook(DropSession, SourceHook):
    """`with FeedHook(conn_id).get_conn() as fs:` is one session for a batch of work."""

    conn_name_attr = "feed_conn_id"
    default_conn_name = "feed_default"
    conn_type = "ledgerbridge_feed"

    def __init__(self, feed_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.feed_conn_id = feed_conn_id

    def check(self) -> tuple[bool, str]:
        """Opens a session (host key verified), then checks the root is readable and writable."""
        from ledgerbridge.sources.feed import INBOUND

        _, found = self.probe(INBOUND)
        return True, f"hub feed {found}"
