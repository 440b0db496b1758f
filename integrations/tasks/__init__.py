"""Scheduled checks of the ledger itself (kind «task»)."""
