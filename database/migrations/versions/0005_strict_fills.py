"""Analytics: count only settle-coin fees, and round the one inexact step exactly.

Why
---
* **A fee in another coin is not USDT.** Bybit says in which coin it charged a fee
  (``feeCurrency``: on spot-like fills, e.g. BTC). The fold summed every ``exec_fee`` as
  if it were the settle coin. Now the fold — here and in ``core.positions`` — counts a
  fee only when ``fee_currency`` is the contract's settle coin
  (``analytics.settle_coin``: ``…USDT`` → USDT, ``…USDC``/``…PERP`` → USDC, inverse
  ``BTCUSD`` → BTC); another coin's fee counts 0 there. The ledger keeps every fee with
  its coin, and ``analytics.other_coin_fees`` reports those per bot, symbol, UTC day and
  coin, never converted. ``analytics.fill_pnl.exec_fee`` (and everything summed from
  it: the daily rollup, ``fold_state``, the views) is the *counted* fee.
* **Exact to the last digit.** The one rounded step of the fold, the cost share a
  partial close removes, was ``round((cost·closed)::numeric(1000, 40) / |q|, 12)``: the
  cast and the division each round before the final rounding, and ``core.positions``
  rounded differently (60 significant digits), so with many-digit inputs the two could
  disagree by 10⁻¹². Both now compute ``round_half_up(cost·closed / |q|, 12)`` exactly
  in integers: ``div(2·cost·closed·10¹² + |q|, 2·|q|) · 10⁻¹²``. Sums and products of
  NUMERIC were exact already. ``analytics.bot_positions.avg_price`` uses the same
  expression, as ``Position.avg_price`` does.

Upgrade takes a SHARE lock on ``trading.fills`` (the listener's INSERTs wait), replaces
the fold functions and the view, and re-folds the (bot, symbol) pairs that hold a fee in
another coin. Pairs folded before keep their rows: the new rounding differs from the old
only where the old one's intermediate roundings tipped a half (``SELECT
analytics.repair(true)`` re-folds everything). Nothing in ``trading`` changes: the
single-writer guard is untouched. Downgrade restores 0004's functions and view.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

v0002 = importlib.import_module("database.migrations.versions.0002_analytics")
v0003 = importlib.import_module("database.migrations.versions.0003_incremental_fold")

SETTLE_COIN = r"""
CREATE FUNCTION analytics.settle_coin(p_category text, p_symbol text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- A standard SQL body is bound when created (no search_path at run time), and a scalar
-- SQL function without SET clauses is inlined into the fold's queries.
RETURN CASE
    WHEN p_category = 'linear' AND p_symbol LIKE '%USDT' THEN 'USDT'
    WHEN p_category = 'linear' AND (p_symbol LIKE '%USDC' OR p_symbol LIKE '%PERP') THEN 'USDC'
    WHEN p_category = 'inverse' AND p_symbol LIKE '_%USD' THEN left(p_symbol, -3)
END;
COMMENT ON FUNCTION analytics.settle_coin(text, text) IS
  'The coin a contract settles in; only fees in it are counted (core.fills.settle_coin).';
"""


def _counted(alias: str) -> str:
    return (
        f"CASE WHEN {alias}.fee_currency = analytics.settle_coin({alias}.category, {alias}.symbol)"
        f" THEN {alias}.exec_fee ELSE 0 END AS exec_fee"
    )


def _exact_round(numerator: str, denominator: str) -> str:
    """round_half_up(numerator / denominator, 12) for numerator ≥ 0 < denominator, exactly."""
    return f"div({numerator} * 2000000000000 + {denominator}, 2 * {denominator}) * 0.000000000001"


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"0005: expected one {old!r}"
    return text.replace(old, new)


OLD_REMOVED = "removed := round((cb * closed)::numeric(1000, 40) / abs(qb), 12);"
FOLD_STEP = _replace(
    v0003.FOLD_STEP, OLD_REMOVED, f"removed := {_exact_round('cb * closed', 'abs(qb)')};"
)
REFOLD = _replace(
    v0003.REFOLD,
    "x.exec_price, x.exec_qty, x.exec_value, x.exec_fee\n",
    f"x.exec_price, x.exec_qty, x.exec_value, {_counted('x')}\n",
)
INSERT_TRIGGER = _replace(
    v0003.INSERT_TRIGGER,
    "n.exec_price, n.exec_qty, n.exec_value, n.exec_fee,\n",
    f"n.exec_price, n.exec_qty, n.exec_value, {_counted('n')},\n",
)


def _fill(template: str, step: str) -> str:
    return (
        template.replace("{FOLD_VARS}", v0003.FOLD_VARS)
        .replace("{FOLD_STEP}", step)
        .replace("{CHUNK}", str(v0003.CHUNK))
    )


def _view_start(name: str) -> int:
    start: int = v0002.VIEWS.index(f"CREATE VIEW analytics.{name} AS")
    return start


OLD_BOT_POSITIONS = v0002.VIEWS[_view_start("bot_positions") : _view_start("round_trips")]
OLD_AVG = "round(l.cost_after::numeric(1000, 40) / abs(l.qty_after), 12)"
BOT_POSITIONS = _replace(
    OLD_BOT_POSITIONS, OLD_AVG, _exact_round("l.cost_after", "abs(l.qty_after)")
).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)

OTHER_COIN_FEES = r"""
CREATE VIEW analytics.other_coin_fees AS
SELECT bot_id, symbol, (exec_time AT TIME ZONE 'UTC')::date AS day, fee_currency,
       sum(exec_fee) AS fees, count(*) AS fills
  FROM trading.fills
 WHERE fee_currency IS DISTINCT FROM analytics.settle_coin(category, symbol)
 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW analytics.other_coin_fees IS
  'Fees charged in a coin other than the contract''s settle coin, per bot, symbol, UTC day and '
  'coin, as charged (never converted). They are not in fees, realized_pnl or net_pnl elsewhere.';
"""

#: Pairs whose derived rows summed a fee in another coin: re-folded at upgrade.
REFOLD_OTHER_COIN_PAIRS = r"""
SELECT analytics.refold(p.bot_id, p.symbol)
  FROM (SELECT DISTINCT bot_id, symbol FROM trading.fills
         WHERE fee_currency IS DISTINCT FROM analytics.settle_coin(category, symbol)) p
"""


def upgrade() -> None:
    op.execute("LOCK TABLE trading.fills IN SHARE MODE")
    op.execute(SETTLE_COIN)
    op.execute(_fill(REFOLD, FOLD_STEP))
    op.execute(_fill(INSERT_TRIGGER, FOLD_STEP))
    op.execute(BOT_POSITIONS)
    op.execute(OTHER_COIN_FEES)
    op.execute(REFOLD_OTHER_COIN_PAIRS)


def downgrade() -> None:
    op.execute("LOCK TABLE trading.fills IN SHARE MODE")
    op.execute("DROP VIEW analytics.other_coin_fees")
    op.execute(OLD_BOT_POSITIONS.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
    op.execute(v0003._fill(v0003.REFOLD))
    op.execute(v0003._fill(v0003.INSERT_TRIGGER))
    op.execute(REFOLD_OTHER_COIN_PAIRS)  # their fees in another coin are summed again
    op.execute("DROP FUNCTION analytics.settle_coin(text, text)")
