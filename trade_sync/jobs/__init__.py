"""One module per reconciliation job; each exposes ``NAME`` and ``run(ctx, account)``."""
