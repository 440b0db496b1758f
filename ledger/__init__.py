"""coop-ledger domain core: storage, member register, money. Never imports streamlit."""
