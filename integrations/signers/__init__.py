"""Report signers (ReportSigner)."""
