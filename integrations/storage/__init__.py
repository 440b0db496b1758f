"""Backup storages (BackupStorage)."""
