"""The live bot host: one strategy plugin against the exchange, the ledger and Redis."""
