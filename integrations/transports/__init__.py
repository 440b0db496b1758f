"""Report transports (ReportTransport)."""
