"""External services (banks, channels, signers, report transports, backup storages) behind one framework.

Nothing here imports streamlit. See integrations/base.py for the interfaces and the registry.
"""
