"""The HTTP API (``alpha run api``): versioned JSON over the ledger, the registry and the
operator audit, with bearer tokens (docs/api.md)."""
