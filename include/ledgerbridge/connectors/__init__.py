"""Connectors to accounting systems. Every connector raises the errors of `connectors.errors`."""
