"""Report transports (ReportTransport): one module per way of submitting reports."""
