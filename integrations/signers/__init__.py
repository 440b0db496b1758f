"""Report signers (ReportSigner): one module per kind of electronic signature."""
