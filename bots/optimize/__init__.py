"""``alpha optimize``: search a bot type's config with Optuna over backtests
(docs/research.md#optimisation-alpha-optimize)."""
