"""Notification channels (Channel)."""
