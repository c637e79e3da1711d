"""Analytics: fold each bot's fills per account, so ``external``'s accounts stay apart.

Why
---
Every bot is registered on one account except ``external``, which takes the manual and
unclaimed trades of *every* account (docs/attribution.md). The fold was keyed by
(bot, symbol), so manual trades in one symbol on two accounts shared one position: a
manual sell on ``alt`` closed part of a manual long on ``main`` at ``main``'s cost,
and both accounts' ``external`` realized P&L and average entry were wrong (only their
sum of quantities was right). The listener's in-memory book had the same flaw; it is
keyed by (account, bot, symbol) now too (docs/positions.md#external-on-several-accounts).

What changes
------------
* ``analytics.fill_pnl``, ``daily_rollup``, ``fold_state`` and ``fold_dirty`` get an
  ``account`` column, and the fold's pair becomes (account, bot, symbol): the keys,
  the advisory lock, ``refold(account, bot, symbol, …)``, the INSERT/UPDATE/DELETE
  triggers, ``fold_append`` and ``repair``. For a bot on one account this is the same
  fold as before (its pair has one account); only ``external`` is split.
* The UPDATE/DELETE triggers re-fold the pairs that lose rows before those that gain
  them. Before, a fill the holder rule moved to a bot that sorts first (``external``
  before every bot) was inserted into its new pair while its row was still in the old
  one; ``fill_pnl``'s key refused it and the new pair stayed dirty (missing from the
  views) until ``repair()``. Found by the attribution property test.
* ``analytics.bot_positions``, ``round_trips`` and ``fold_status`` get an ``account``
  column (added last, so ``SELECT`` lists naming columns keep working); a consumer that
  keys ``bot_positions`` by (bot, symbol) sees one row per account for ``external``.
  The daily views (``bot_daily_pnl``, ``symbol_daily_pnl``, ``bot_summary``) sum a bot
  over its accounts, as before.

The fold text is 0005's (the one that is live), re-keyed by the replacements below; each
asserts that it matched exactly as often as expected, so a change to an older text
cannot silently produce a different fold.

Upgrade takes a SHARE lock on ``trading.fills`` (listener INSERTs wait), empties the
derived tables and re-folds every pair (``repair(true)``): one pass over the ledger,
like 0002's upgrade. Downgrade restores the (bot, symbol) fold and re-folds likewise.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import importlib
import re

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

v0002 = importlib.import_module("database.migrations.versions.0002_analytics")
v0003 = importlib.import_module("database.migrations.versions.0003_incremental_fold")
v0005 = importlib.import_module("database.migrations.versions.0005_strict_fills")


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, f"0011: expected {count} of {old!r}"
    return text.replace(old, new)


def _account_in_pair(text: str, count: int) -> str:
    """``r.bot_id = p_bot AND r.symbol = p_symbol`` → the account first (every alias)."""
    pattern = re.compile(r"(\w+)\.bot_id = p_bot AND \1\.symbol = p_symbol")
    new, n = pattern.subn(r"\1.account = p_account AND \g<0>", text)
    assert n == count, f"0011: expected {count} pair filters, found {n}"
    return new


OLD_LOCK_KEY = "'analytics.fold/' || p_bot || '/' || p_symbol"
LOCK_KEY = "'analytics.fold/' || p_account || '/' || p_bot || '/' || p_symbol"

# The fold step: the new column is last in the row type.
FOLD_STEP = _replace(
    v0005.FOLD_STEP,
    "ctrip IS NOT NULL AND (q = 0 OR opened > 0), trip)::analytics.fill_pnl;",
    "ctrip IS NOT NULL AND (q = 0 OR opened > 0), trip,\n"
    "                      f.account)::analytics.fill_pnl;",
)

REFOLD = v0005.REFOLD
REFOLD = _replace(
    REFOLD,
    "CREATE OR REPLACE FUNCTION analytics.refold(p_bot text, p_symbol text,",
    "CREATE FUNCTION analytics.refold(p_account text, p_bot text, p_symbol text,",
)
REFOLD = _replace(REFOLD, OLD_LOCK_KEY, LOCK_KEY)
REFOLD = _account_in_pair(REFOLD, 12)
REFOLD = _replace(
    REFOLD,
    "SELECT x.exchange, x.exec_id, x.bot_id, x.symbol,",
    "SELECT x.exchange, x.exec_id, x.bot_id, x.symbol, x.account,",
)
REFOLD = _replace(
    REFOLD,
    "INSERT INTO analytics.daily_rollup (bot_id, symbol, day, gross_pnl, fees, volume, fills)\n"
    "    SELECT p_bot, p_symbol,",
    "INSERT INTO analytics.daily_rollup (account, bot_id, symbol, day, gross_pnl, fees, volume,"
    " fills)\n    SELECT p_account, p_bot, p_symbol,",
)
REFOLD = _replace(REFOLD, "     GROUP BY 3;", "     GROUP BY 4;")
REFOLD = _replace(
    REFOLD,
    "l.exec_time, l.seq, l.exec_id)\n        ON CONFLICT (bot_id, symbol) DO UPDATE",
    "l.exec_time, l.seq, l.exec_id, p_account)\n"
    "        ON CONFLICT (account, bot_id, symbol) DO UPDATE",
)

INSERT_TRIGGER = v0005.INSERT_TRIGGER
for _old, _new in (
    (
        "    pb         text;              -- current pair\n",
        "    pa         text;              -- current pair\n    pb         text;\n",
    ),
    (
        "    late_bot   text[] := '{}';    -- pairs to re-fold, with their earliest new key\n",
        "    late_acct  text[] := '{}';    -- pairs to re-fold, with their earliest new key\n"
        "    late_bot   text[] := '{}';\n",
    ),
    (
        "-- Lock every touched pair, in (bot_id, symbol) order",
        "-- Lock every touched pair, in (account, bot_id, symbol) order",
    ),
    (
        "FOR g IN SELECT DISTINCT bot_id, symbol FROM new_rows ORDER BY bot_id, symbol LOOP",
        "FOR g IN SELECT DISTINCT account, bot_id, symbol FROM new_rows\n"
        "                       ORDER BY account, bot_id, symbol LOOP",
    ),
    (
        "'analytics.fold/' || g.bot_id || '/' || g.symbol",
        "'analytics.fold/' || g.account || '/' || g.bot_id || '/' || g.symbol",
    ),
    (
        "SELECT n.exchange, n.exec_id, n.bot_id, n.symbol,",
        "SELECT n.exchange, n.exec_id, n.bot_id, n.symbol, n.account,",
    ),
    (
        "WHERE r.bot_id = n.bot_id AND r.symbol = n.symbol)",
        "WHERE r.account = n.account AND r.bot_id = n.bot_id\n"
        "                                                AND r.symbol = n.symbol)",
    ),
    (
        "ON st.bot_id = n.bot_id AND st.symbol = n.symbol",
        "ON st.account = n.account AND st.bot_id = n.bot_id AND st.symbol = n.symbol",
    ),
    (
        "ORDER BY n.bot_id, n.symbol, n.exec_time, n.seq, n.exec_id",
        "ORDER BY n.account, n.bot_id, n.symbol, n.exec_time, n.seq, n.exec_id",
    ),
    (
        "IF f.bot_id IS DISTINCT FROM pb OR f.symbol IS DISTINCT FROM ps THEN",
        "IF f.account IS DISTINCT FROM pa OR f.bot_id IS DISTINCT FROM pb\n"
        "                   OR f.symbol IS DISTINCT FROM ps THEN",
    ),
    (
        "                    pb := f.bot_id;\n",
        "                    pa := f.account;\n                    pb := f.bot_id;\n",
    ),
    (
        "                        late_bot := late_bot || f.bot_id;\n",
        "                        late_acct := late_acct || f.account;\n"
        "                        late_bot := late_bot || f.bot_id;\n",
    ),
    (
        "PERFORM analytics.refold(late_bot[k], late_sym[k],",
        "PERFORM analytics.refold(late_acct[k], late_bot[k], late_sym[k],",
    ),
):
    INSERT_TRIGGER = _replace(INSERT_TRIGGER, _old, _new)

# The per-pair fallback of the INSERT trigger and the whole UPDATE/DELETE triggers.
OLD_PAIRS = (
    "        SELECT DISTINCT ON (bot_id, symbol) bot_id, symbol, exec_time, seq, exec_id\n"
    "          FROM {rows}\n"
    "         ORDER BY bot_id, symbol, exec_time, seq, exec_id\n"
)
PAIRS = (
    "        SELECT DISTINCT ON (account, bot_id, symbol) account, bot_id, symbol, exec_time,\n"
    "               seq, exec_id\n"
    "          FROM {rows}\n"
    "         ORDER BY account, bot_id, symbol, exec_time, seq, exec_id\n"
)
OLD_PAIR_FOLD = (
    "PERFORM analytics.refold(g.bot_id, g.symbol, g.exec_time, g.seq, g.exec_id);",
    "INSERT INTO analytics.fold_dirty (bot_id, symbol, error)\n"
    "            VALUES (g.bot_id, g.symbol, SQLERRM)\n"
    "            ON CONFLICT (bot_id, symbol) DO UPDATE",
    "RAISE WARNING 'analytics fold of %/% failed (%); run SELECT analytics.repair()',\n"
    "                g.bot_id, g.symbol, SQLERRM;",
)
PAIR_FOLD = (
    "PERFORM analytics.refold(g.account, g.bot_id, g.symbol, g.exec_time, g.seq, g.exec_id);",
    "INSERT INTO analytics.fold_dirty (account, bot_id, symbol, error)\n"
    "            VALUES (g.account, g.bot_id, g.symbol, SQLERRM)\n"
    "            ON CONFLICT (account, bot_id, symbol) DO UPDATE",
    "RAISE WARNING 'analytics fold of %/% failed on account % (%); run SELECT"
    " analytics.repair()',\n"
    "                g.bot_id, g.symbol, g.account, SQLERRM;",
)


def _pair_path(text: str, rows: str) -> str:
    text = _replace(text, OLD_PAIRS.replace("{rows}", rows), PAIRS.replace("{rows}", rows))
    for old, new in zip(OLD_PAIR_FOLD, PAIR_FOLD, strict=True):
        text = _replace(text, old, new)
    return text


INSERT_TRIGGER = _pair_path(INSERT_TRIGGER, "new_rows")
# UPDATE and DELETE: 0002's trigger, re-keyed, with one more fix. A fill the holder rule
# moves to another bot leaves its pair (old_rows) and joins one (new_rows). fill_pnl's key
# is the exec id, so the pair that gains the fill must be re-folded after the pair that
# loses it, or its INSERT meets the fill's old row and the pair goes dirty (this happened
# whenever the new bot sorted first: a move to ``external``). Every lock is still taken
# first, in (account, bot_id, symbol) order, so two writers cannot deadlock.
CHANGED_TRIGGER = r"""
CREATE OR REPLACE FUNCTION analytics.on_fills_changed_{event}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g record;
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        FOR g IN
            WITH changed AS ({changed})
            SELECT DISTINCT account, bot_id, symbol FROM changed ORDER BY 1, 2, 3
        LOOP
            PERFORM pg_advisory_xact_lock(
                hashtextextended('analytics.fold/' || g.account || '/' || g.bot_id || '/'
                                 || g.symbol, 0));
        END LOOP;
    END IF;
    FOR g IN
        WITH changed AS ({changed})
        SELECT * FROM (
            SELECT DISTINCT ON (account, bot_id, symbol) account, bot_id, symbol, exec_time,
                   seq, exec_id, min(gains) OVER (PARTITION BY account, bot_id, symbol) AS gains
              FROM changed
             ORDER BY account, bot_id, symbol, exec_time, seq, exec_id) p
         ORDER BY gains, account, bot_id, symbol    -- pairs that lose rows first
    LOOP
        BEGIN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                -- Under a fixed snapshot the fold could miss a concurrent commit.
                RAISE EXCEPTION 'fold needs READ COMMITTED, transaction is %',
                    current_setting('transaction_isolation');
            END IF;
            PERFORM analytics.refold(g.account, g.bot_id, g.symbol, g.exec_time, g.seq,
                                     g.exec_id);
        EXCEPTION WHEN OTHERS THEN
            -- The ledger never waits on analytics: record the pair, warn, commit the fill.
            INSERT INTO analytics.fold_dirty (account, bot_id, symbol, error)
            VALUES (g.account, g.bot_id, g.symbol, SQLERRM)
            ON CONFLICT (account, bot_id, symbol) DO UPDATE
                SET error = EXCLUDED.error, marked_at = EXCLUDED.marked_at;
            RAISE WARNING 'analytics fold of %/% failed on account % (%); run SELECT'
                ' analytics.repair()', g.bot_id, g.symbol, g.account, SQLERRM;
        END;
    END LOOP;
    RETURN NULL;
END $$;
"""
#: Per event: the changed rows, and whether their pair gains them (new_rows) or not.
CHANGED_ROWS = {
    "update": "SELECT account, bot_id, symbol, exec_time, seq, exec_id, 0 AS gains"
    " FROM old_rows UNION ALL"
    " SELECT account, bot_id, symbol, exec_time, seq, exec_id, 1 FROM new_rows",
    "delete": "SELECT account, bot_id, symbol, exec_time, seq, exec_id, 0 AS gains FROM old_rows",
}

APPEND = r"""
CREATE OR REPLACE FUNCTION analytics.fold_append(p_rows analytics.fill_pnl[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO analytics.fill_pnl SELECT * FROM unnest(p_rows);

    INSERT INTO analytics.daily_rollup AS d
           (account, bot_id, symbol, day, gross_pnl, fees, volume, fills)
    SELECT r.account, r.bot_id, r.symbol, (r.exec_time AT TIME ZONE 'UTC')::date,
           sum(r.gross_pnl), sum(r.exec_fee), sum(r.exec_value), count(*)
      FROM unnest(p_rows) r
     GROUP BY 1, 2, 3, 4
    ON CONFLICT (account, bot_id, symbol, day) DO UPDATE
       SET gross_pnl = d.gross_pnl + EXCLUDED.gross_pnl,
           fees = d.fees + EXCLUDED.fees,
           volume = d.volume + EXCLUDED.volume,
           fills = d.fills + EXCLUDED.fills;

    INSERT INTO analytics.fold_state AS st
           (account, bot_id, symbol, qty, cost, trips, realized, fees, fills,
            last_time, last_seq, last_id)
    SELECT l.account, l.bot_id, l.symbol, l.qty_after, l.cost_after, l.trips, t.realized,
           t.fees, t.fills, l.exec_time, l.seq, l.exec_id
      FROM (SELECT r.account, r.bot_id, r.symbol, sum(r.gross_pnl - r.exec_fee) AS realized,
                   sum(r.exec_fee) AS fees, count(*) AS fills
              FROM unnest(p_rows) r GROUP BY 1, 2, 3) t
      JOIN (SELECT DISTINCT ON (r.account, r.bot_id, r.symbol) r.account, r.bot_id, r.symbol,
                   r.qty_after, r.cost_after, r.trips, r.exec_time, r.seq, r.exec_id
              FROM unnest(p_rows) r
             ORDER BY r.account, r.bot_id, r.symbol,
                      r.exec_time DESC, r.seq DESC, r.exec_id DESC) l
        ON l.account = t.account AND l.bot_id = t.bot_id AND l.symbol = t.symbol
    ON CONFLICT (account, bot_id, symbol) DO UPDATE
       SET qty = EXCLUDED.qty, cost = EXCLUDED.cost, trips = EXCLUDED.trips,
           realized = st.realized + EXCLUDED.realized,
           fees = st.fees + EXCLUDED.fees,
           fills = st.fills + EXCLUDED.fills,
           last_time = EXCLUDED.last_time, last_seq = EXCLUDED.last_seq,
           last_id = EXCLUDED.last_id;
END $$;
"""

REPAIR = r"""
CREATE OR REPLACE FUNCTION analytics.repair(p_all boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g record;
    n bigint := 0;
BEGIN
    FOR g IN
        SELECT account, bot_id, symbol FROM analytics.fold_dirty WHERE NOT p_all
        UNION
        SELECT DISTINCT account, bot_id, symbol FROM trading.fills WHERE p_all
        UNION
        SELECT DISTINCT account, bot_id, symbol FROM analytics.fill_pnl WHERE p_all
    LOOP
        n := n + analytics.refold(g.account, g.bot_id, g.symbol);
    END LOOP;
    RETURN n;
END $$;
"""

TABLES = r"""
DELETE FROM analytics.fill_pnl;
DELETE FROM analytics.daily_rollup;
DELETE FROM analytics.fold_state;
DELETE FROM analytics.fold_dirty;

ALTER TABLE analytics.fill_pnl ADD COLUMN account text NOT NULL;
DROP INDEX analytics.fill_pnl_order;
CREATE INDEX fill_pnl_order
    ON analytics.fill_pnl (account, bot_id, symbol, exec_time, seq, exec_id);

ALTER TABLE analytics.daily_rollup ADD COLUMN account text NOT NULL;
ALTER TABLE analytics.daily_rollup DROP CONSTRAINT daily_rollup_pkey,
    ADD PRIMARY KEY (account, bot_id, symbol, day);

ALTER TABLE analytics.fold_state ADD COLUMN account text NOT NULL;
ALTER TABLE analytics.fold_state DROP CONSTRAINT fold_state_pkey,
    ADD PRIMARY KEY (account, bot_id, symbol);

ALTER TABLE analytics.fold_dirty ADD COLUMN account text NOT NULL;
ALTER TABLE analytics.fold_dirty DROP CONSTRAINT fold_dirty_pkey,
    ADD PRIMARY KEY (account, bot_id, symbol);
"""

OLD_VIEWS_TEXT = v0005.BOT_POSITIONS + v0002.VIEWS[
    v0002.VIEWS.index("CREATE VIEW analytics.round_trips AS") : v0002.VIEWS.index(
        "CREATE VIEW analytics.bot_daily_pnl AS"
    )
].replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)

BOT_POSITIONS = v0005.BOT_POSITIONS
for _old, _new in (
    ("       l.exec_time AS last_fill\n", "       l.exec_time AS last_fill,\n       t.account\n"),
    (
        "  FROM (SELECT bot_id, symbol, sum(gross_pnl)",
        "  FROM (SELECT account, bot_id, symbol, sum(gross_pnl)",
    ),
    (
        "FROM analytics.daily_rollup GROUP BY bot_id, symbol) t",
        "FROM analytics.daily_rollup GROUP BY account, bot_id, symbol) t",
    ),
    (
        "WHERE r.bot_id = t.bot_id AND r.symbol = t.symbol",
        "WHERE r.account = t.account AND r.bot_id = t.bot_id AND r.symbol = t.symbol",
    ),
):
    BOT_POSITIONS = _replace(BOT_POSITIONS, _old, _new)

ROUND_TRIPS = v0002.VIEWS[
    v0002.VIEWS.index("CREATE VIEW analytics.round_trips AS") : v0002.VIEWS.index(
        "CREATE VIEW analytics.bot_daily_pnl AS"
    )
].replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)
for _old, _new, _n in (
    ("    SELECT bot_id, symbol, open_trip", "    SELECT account, bot_id, symbol, open_trip", 1),
    ("    SELECT bot_id, symbol, close_trip", "    SELECT account, bot_id, symbol, close_trip", 1),
    ("       count(*) AS fills\n", "       count(*) AS fills,\n       account\n", 1),
    (" GROUP BY bot_id, symbol, trip_no", " GROUP BY account, bot_id, symbol, trip_no", 1),
):
    ROUND_TRIPS = _replace(ROUND_TRIPS, _old, _new, _n)

FOLD_STATUS = r"""
CREATE OR REPLACE VIEW analytics.fold_status AS
SELECT bot_id, symbol, marked_at, error, account FROM analytics.fold_dirty;
"""
OLD_FOLD_STATUS = r"""
CREATE OR REPLACE VIEW analytics.fold_status AS
SELECT bot_id, symbol, marked_at, error FROM analytics.fold_dirty;
"""


def _fill(template: str, step: str) -> str:
    filled: str = v0005._fill(template, step)
    return filled


def upgrade() -> None:
    op.execute("LOCK TABLE trading.fills IN SHARE MODE")
    op.execute("DROP FUNCTION analytics.refold(text, text, timestamptz, bigint, text)")
    op.execute(TABLES)
    op.execute(_fill(REFOLD, FOLD_STEP))
    op.execute(
        "REVOKE ALL ON FUNCTION analytics.refold(text, text, text, timestamptz, bigint, text)"
        " FROM PUBLIC"
    )
    op.execute(APPEND)
    op.execute(_fill(INSERT_TRIGGER, FOLD_STEP))
    for event, changed in CHANGED_ROWS.items():
        op.execute(CHANGED_TRIGGER.replace("{event}", event).replace("{changed}", changed))
    op.execute(REPAIR)
    op.execute(BOT_POSITIONS)
    op.execute(ROUND_TRIPS)
    op.execute(FOLD_STATUS)
    op.execute("SELECT analytics.repair(true)")


def downgrade() -> None:
    # Views first: a column cannot be dropped while a view reads it, and CREATE OR
    # REPLACE cannot drop one either.
    op.execute("LOCK TABLE trading.fills IN SHARE MODE")
    op.execute(
        "DROP VIEW analytics.bot_summary, analytics.round_trips, analytics.bot_positions,"
        " analytics.fold_status"
    )
    op.execute("DROP FUNCTION analytics.refold(text, text, text, timestamptz, bigint, text)")
    op.execute(
        """
        DELETE FROM analytics.fill_pnl;
        DELETE FROM analytics.daily_rollup;
        DELETE FROM analytics.fold_state;
        DELETE FROM analytics.fold_dirty;
        DROP INDEX analytics.fill_pnl_order;
        ALTER TABLE analytics.fill_pnl DROP COLUMN account;
        CREATE INDEX fill_pnl_order
            ON analytics.fill_pnl (bot_id, symbol, exec_time, seq, exec_id);
        ALTER TABLE analytics.daily_rollup DROP COLUMN account,
            ADD PRIMARY KEY (bot_id, symbol, day);
        ALTER TABLE analytics.fold_state DROP COLUMN account, ADD PRIMARY KEY (bot_id, symbol);
        ALTER TABLE analytics.fold_dirty DROP COLUMN account, ADD PRIMARY KEY (bot_id, symbol);
        """
    )
    op.execute(v0005._fill(v0003.REFOLD.replace("CREATE OR REPLACE", "CREATE", 1), v0005.FOLD_STEP))
    op.execute(
        "REVOKE ALL ON FUNCTION analytics.refold(text, text, timestamptz, bigint, text) FROM PUBLIC"
    )
    op.execute(v0003.APPEND.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(v0005._fill(v0005.INSERT_TRIGGER, v0005.FOLD_STEP))
    for event in ("update", "delete"):
        changed = " UNION ALL ".join(
            f"SELECT bot_id, symbol, exec_time, seq, exec_id FROM {t}" for t in v0002.CHANGED[event]
        )
        op.execute(
            v0002.TRIGGER.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
            .replace("{event}", event)
            .replace("{changed}", changed)
        )
    op.execute(v0002.REPAIR.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    views = v0002.VIEWS
    op.execute(v0005.BOT_POSITIONS.replace("CREATE OR REPLACE VIEW", "CREATE VIEW", 1))
    op.execute(views[views.index("CREATE VIEW analytics.round_trips AS") : views.index(
        "CREATE VIEW analytics.bot_daily_pnl AS")])  # fmt: skip
    op.execute(views[views.index("CREATE VIEW analytics.bot_summary AS") : views.index(
        "COMMENT ON VIEW analytics.bot_daily_pnl")])  # fmt: skip
    op.execute(views[views.index("COMMENT ON VIEW analytics.bot_summary IS") :])
    op.execute(OLD_FOLD_STATUS.replace("CREATE OR REPLACE VIEW", "CREATE VIEW", 1))
    op.execute("SELECT analytics.repair(true)")
