"""Bank statement sources (BankSource)."""
