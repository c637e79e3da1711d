"""Analytics: the position fold as a per-fill table, a daily rollup, and the P&L views.

Why a derived table, and who writes it
--------------------------------------
Positions are a sequential fold of fills (docs/ledger.md invariant 4): each fill's realized P&L
depends on the average entry price left by every earlier fill of that (bot, symbol).
Recomputing the fold for every query is fine for one bot's position but not for daily
P&L over ten million fills, so the fold's result is stored:

* ``analytics.fill_pnl`` — one row per fill: position before/after, average entry
  before/after, closed and opened quantity, the gross P&L of the closed part, how the
  fee splits between the trade it closes and the one it opens, and the round-trip
  numbers. Every view reads this table, so all of them agree with one fold.
* ``analytics.daily_rollup`` — per (bot, symbol, UTC day): gross P&L, fees, volume,
  fills. ``bot_daily_pnl`` reads only this (a few rows per bot per day) plus funding,
  which is what makes it answer in milliseconds over millions of fills.

Both are maintained by an AFTER … FOR EACH STATEMENT trigger on ``trading.fills``. It
runs inside the listener's transaction, so the derived rows commit atomically with the
fills they come from (never stale, never ahead, and consistent in every dump). The
trigger function is ``SECURITY DEFINER`` owned by the owner role: the listener gets no
privilege on the analytics tables, and the single-writer rule is untouched — the
ledger tables are still written only by the listener; the analytics tables are
written only by the owner's fold function (and by the owner's migrations).

Per (bot, symbol) touched by a statement the trigger takes a transaction-scoped
advisory lock (so two listener transactions cannot fold the same pair from different
snapshots), deletes the derived rows at or after the earliest changed ledger key
``(exec_time, seq, exec_id)`` and folds forward from the state just before it. An
append folds only the new rows; a late fill (REST backfill) re-folds that pair from its
position on, as the invariant requires. UPDATE and DELETE are handled the same way.

The ledger never waits on analytics: the fold runs in a sub-transaction, and if it
fails (or the transaction is not READ COMMITTED, where the lock-then-read argument does
not hold) the pair is recorded in ``analytics.fold_dirty`` with the error, a WARNING is
raised, and the fill still commits. ``analytics.fold_status`` shows dirty pairs;
``SELECT analytics.repair()`` (owner) re-folds them.

The alternative considered — a refresh function run periodically by the owner — would
keep the listener's commit path free of analytics work, but every view would then be
stale between refreshes (and the Telegram /pnl right after a fill would be wrong), or
would need a live "tail" fold merged into each view. The per-statement cost of the
trigger is one indexed lookup plus one inserted row per fill.

Fold rules — exactly ``core.positions`` (the Python fold the listener keeps in Redis),
to the last decimal: a signed quantity and the entry ``cost`` of the open quantity. An
add puts ``qty·price`` on the cost; a reduction closes ``min(|fill|, |q|)`` and removes
its cost share — all of it when the position closes, else
``round_half_up(cost·closed/|q|, 12)`` (the one rounded step; PostgreSQL's ``round`` on
numeric rounds half away from zero, as ROUND_HALF_UP does, and the quotient is taken at
scale 40 so the rounding sees enough digits). The close realizes
``(closed·price − removed)·sign(q)``; a fill larger than the position flips it and the
remainder opens at the fill price. The average entry is ``round_half_up(cost/|q|, 12)``,
0 when flat. ``realized_pnl`` is net of fees (each fee is subtracted when it occurs).
Funding is not part of the fold; the daily views add it.

Round trips (not part of ``core.positions``): a trip runs from flat to flat; a flip
closes one and opens the next, and its fee is split pro rata by quantity (the opening
share is ``fee − closing share``, so totals stay exact). Because a trip ends with all of
its cost removed, its gross P&L is exactly exit value − entry value. Fees are in the
quote currency (USDT for linear perpetuals). Days are UTC days.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

from database.migrations.roles import role

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = r"""
CREATE TABLE analytics.fill_pnl (
    exchange     text NOT NULL,
    exec_id      text NOT NULL,
    bot_id       text NOT NULL,
    symbol       text NOT NULL,
    exec_time    timestamptz NOT NULL,
    seq          bigint NOT NULL,
    side         text NOT NULL,
    exec_price   numeric NOT NULL,
    exec_qty     numeric NOT NULL,
    exec_value   numeric NOT NULL,
    exec_fee     numeric NOT NULL,
    qty_before   numeric NOT NULL,      -- signed: long > 0, short < 0
    qty_after    numeric NOT NULL,
    cost_before  numeric NOT NULL,      -- entry cost of the open quantity (0 when flat)
    cost_after   numeric NOT NULL,
    removed_cost numeric NOT NULL,      -- cost share taken out by the closed part
    closed_qty   numeric NOT NULL,      -- unsigned part of the fill that reduced the position
    opened_qty   numeric NOT NULL,      -- unsigned part that opened or added
    gross_pnl    numeric NOT NULL,      -- P&L of the closed part, before fees
    close_fee    numeric NOT NULL,      -- share of exec_fee charged to close_trip
    open_fee     numeric NOT NULL,      -- share of exec_fee charged to open_trip
    close_trip   integer,               -- round trip this fill reduced (NULL: none)
    open_trip    integer,               -- round trip this fill opened or added to
    trip_closed  boolean NOT NULL,      -- close_trip ends here (flat, or flipped)
    trips        integer NOT NULL,      -- round trips started so far for this pair
    PRIMARY KEY (exchange, exec_id)
);
CREATE INDEX fill_pnl_order ON analytics.fill_pnl (bot_id, symbol, exec_time, seq, exec_id);

CREATE TABLE analytics.daily_rollup (
    bot_id     text NOT NULL,
    symbol     text NOT NULL,
    day        date NOT NULL,
    gross_pnl  numeric NOT NULL,
    fees       numeric NOT NULL,
    volume     numeric NOT NULL,        -- sum of exec_value (quote currency)
    fills      bigint NOT NULL,
    PRIMARY KEY (bot_id, symbol, day)
);
CREATE INDEX daily_rollup_day ON analytics.daily_rollup (day);

CREATE TABLE analytics.fold_dirty (
    bot_id     text NOT NULL,
    symbol     text NOT NULL,
    marked_at  timestamptz NOT NULL DEFAULT now(),
    error      text NOT NULL,
    PRIMARY KEY (bot_id, symbol)
);
"""

# The fold itself: from the state just before ledger key (t, s, id), re-derive every row
# of one (bot, symbol) pair at or after it, then recompute the touched days' rollup.
REFOLD = r"""
CREATE FUNCTION analytics.refold(p_bot text, p_symbol text,
                                 p_time timestamptz DEFAULT '-infinity',
                                 p_seq bigint DEFAULT -9223372036854775808,
                                 p_id text DEFAULT '')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q      numeric := 0;     -- signed position
    cost   numeric := 0;     -- entry cost of the open quantity
    trip   integer := 0;     -- round trips started
    f      record;
    s      numeric;          -- signed fill quantity
    qb     numeric;
    cb     numeric;
    removed numeric;
    closed numeric;
    opened numeric;
    gross  numeric;
    cfee   numeric;
    ofee   numeric;
    ctrip  integer;
    otrip  integer;
    n      bigint := 0;
BEGIN
    -- One fold per pair at a time: a second listener transaction waits, then reads ours.
    PERFORM pg_advisory_xact_lock(hashtextextended('analytics.fold/' || p_bot || '/' || p_symbol,
                                                   0));

    SELECT r.qty_after, r.cost_after, r.trips INTO q, cost, trip
      FROM analytics.fill_pnl r
     WHERE r.bot_id = p_bot AND r.symbol = p_symbol
       AND (r.exec_time, r.seq, r.exec_id) < (p_time, p_seq, p_id)
     ORDER BY r.exec_time DESC, r.seq DESC, r.exec_id DESC
     LIMIT 1;
    IF NOT FOUND THEN
        q := 0; cost := 0; trip := 0;
    END IF;

    DELETE FROM analytics.fill_pnl r
     WHERE r.bot_id = p_bot AND r.symbol = p_symbol
       AND (r.exec_time, r.seq, r.exec_id) >= (p_time, p_seq, p_id);

    FOR f IN
        SELECT x.exchange, x.exec_id, x.exec_time, x.seq, x.side, x.exec_price, x.exec_qty,
               x.exec_value, x.exec_fee
          FROM trading.fills x
         WHERE x.bot_id = p_bot AND x.symbol = p_symbol
           AND (x.exec_time, x.seq, x.exec_id) >= (p_time, p_seq, p_id)
         ORDER BY x.exec_time, x.seq, x.exec_id
    LOOP
        s := CASE WHEN f.side = 'Buy' THEN f.exec_qty ELSE -f.exec_qty END;
        qb := q;
        cb := cost;
        IF qb = 0 OR (qb > 0) = (s > 0) THEN
            -- open from flat or add (a zero-quantity fill on a short lands here: fee only)
            closed := 0;
            opened := abs(s);
            removed := 0;
            gross := 0;
            cfee := 0;
            ofee := f.exec_fee;
            ctrip := NULL;
            IF opened > 0 AND qb = 0 THEN
                trip := trip + 1;
            END IF;
            otrip := CASE WHEN qb <> 0 OR opened > 0 THEN trip END;
            q := qb + s;
            cost := cb + opened * f.exec_price;
        ELSE
            -- reduce, close, or flip through zero
            closed := least(abs(s), abs(qb));
            opened := abs(s) - closed;
            IF closed = abs(qb) THEN
                removed := cb;
            ELSE
                removed := round((cb * closed)::numeric(1000, 40) / abs(qb), 12);
            END IF;
            gross := (closed * f.exec_price - removed) * sign(qb);
            ctrip := trip;
            q := qb + s;
            cost := cb - removed;
            IF opened > 0 THEN
                cfee := f.exec_fee * closed / abs(s);
                ofee := f.exec_fee - cfee;
                trip := trip + 1;
                otrip := trip;
                cost := abs(q) * f.exec_price;
            ELSE
                cfee := f.exec_fee;
                ofee := 0;
                otrip := NULL;
            END IF;
        END IF;
        IF q = 0 THEN
            cost := 0;
        END IF;

        INSERT INTO analytics.fill_pnl VALUES (
            f.exchange, f.exec_id, p_bot, p_symbol, f.exec_time, f.seq, f.side, f.exec_price,
            f.exec_qty, f.exec_value, f.exec_fee, qb, q, cb, cost, removed, closed, opened, gross,
            cfee, ofee, ctrip, otrip, ctrip IS NOT NULL AND (q = 0 OR opened > 0), trip);
        n := n + 1;
    END LOOP;

    DELETE FROM analytics.daily_rollup d
     WHERE d.bot_id = p_bot AND d.symbol = p_symbol
       AND d.day >= (p_time AT TIME ZONE 'UTC')::date;
    INSERT INTO analytics.daily_rollup (bot_id, symbol, day, gross_pnl, fees, volume, fills)
    SELECT p_bot, p_symbol, (r.exec_time AT TIME ZONE 'UTC')::date,
           sum(r.gross_pnl), sum(r.exec_fee), sum(r.exec_value), count(*)
      FROM analytics.fill_pnl r
     WHERE r.bot_id = p_bot AND r.symbol = p_symbol
       AND r.exec_time >= ((p_time AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC'
     GROUP BY 3;

    DELETE FROM analytics.fold_dirty d WHERE d.bot_id = p_bot AND d.symbol = p_symbol
       AND p_time = '-infinity';
    RETURN n;
END $$;
"""

TRIGGER = r"""
CREATE FUNCTION analytics.on_fills_changed_{event}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g record;
BEGIN
    FOR g IN
        WITH changed AS ({changed})
        SELECT DISTINCT ON (bot_id, symbol) bot_id, symbol, exec_time, seq, exec_id
          FROM changed
         ORDER BY bot_id, symbol, exec_time, seq, exec_id
    LOOP
        BEGIN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                -- Under a fixed snapshot the fold could miss a concurrent commit.
                RAISE EXCEPTION 'fold needs READ COMMITTED, transaction is %',
                    current_setting('transaction_isolation');
            END IF;
            PERFORM analytics.refold(g.bot_id, g.symbol, g.exec_time, g.seq, g.exec_id);
        EXCEPTION WHEN OTHERS THEN
            -- The ledger never waits on analytics: record the pair, warn, commit the fill.
            INSERT INTO analytics.fold_dirty (bot_id, symbol, error)
            VALUES (g.bot_id, g.symbol, SQLERRM)
            ON CONFLICT (bot_id, symbol) DO UPDATE
                SET error = EXCLUDED.error, marked_at = EXCLUDED.marked_at;
            RAISE WARNING 'analytics fold of %/% failed (%); run SELECT analytics.repair()',
                g.bot_id, g.symbol, SQLERRM;
        END;
    END LOOP;
    RETURN NULL;
END $$;
"""

CHANGED = {"insert": ("new_rows",), "update": ("old_rows", "new_rows"), "delete": ("old_rows",)}

# PostgreSQL allows transition tables only on single-event triggers: one per event.
TRIGGERS = r"""
CREATE TRIGGER fills_analytics_insert AFTER INSERT ON trading.fills
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.on_fills_changed_insert();
CREATE TRIGGER fills_analytics_update AFTER UPDATE ON trading.fills
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.on_fills_changed_update();
CREATE TRIGGER fills_analytics_delete AFTER DELETE ON trading.fills
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.on_fills_changed_delete();
"""

REPAIR = r"""
CREATE FUNCTION analytics.repair(p_all boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g record;
    n bigint := 0;
BEGIN
    FOR g IN
        SELECT bot_id, symbol FROM analytics.fold_dirty WHERE NOT p_all
        UNION
        SELECT DISTINCT bot_id, symbol FROM trading.fills WHERE p_all
        UNION
        SELECT DISTINCT bot_id, symbol FROM analytics.fill_pnl WHERE p_all
    LOOP
        n := n + analytics.refold(g.bot_id, g.symbol);
    END LOOP;
    RETURN n;
END $$;
"""

VIEWS = r"""
CREATE VIEW analytics.fold_status AS
SELECT bot_id, symbol, marked_at, error FROM analytics.fold_dirty;

CREATE VIEW analytics.bot_positions AS
SELECT t.bot_id, t.symbol,
       l.qty_after AS qty,
       CASE WHEN l.qty_after = 0 THEN 0
            ELSE round(l.cost_after::numeric(1000, 40) / abs(l.qty_after), 12) END AS avg_price,
       t.gross_pnl - t.fees AS realized_pnl,
       t.fees,
       t.gross_pnl,
       t.volume,
       t.fills,
       l.exec_time AS last_fill
  FROM (SELECT bot_id, symbol, sum(gross_pnl) AS gross_pnl, sum(fees) AS fees,
               sum(volume) AS volume, sum(fills)::bigint AS fills
          FROM analytics.daily_rollup GROUP BY bot_id, symbol) t
  CROSS JOIN LATERAL (
        SELECT r.qty_after, r.cost_after, r.exec_time FROM analytics.fill_pnl r
         WHERE r.bot_id = t.bot_id AND r.symbol = t.symbol
         ORDER BY r.exec_time DESC, r.seq DESC, r.exec_id DESC LIMIT 1) l;

CREATE VIEW analytics.round_trips AS
WITH parts AS (
    SELECT bot_id, symbol, open_trip AS trip_no, exec_time, true AS opening, side,
           opened_qty AS qty, opened_qty * exec_price AS value, open_fee AS fee,
           0::numeric AS gross, false AS ends
      FROM analytics.fill_pnl WHERE open_trip IS NOT NULL
    UNION ALL
    SELECT bot_id, symbol, close_trip, exec_time, false, side,
           closed_qty, closed_qty * exec_price, close_fee, gross_pnl, trip_closed
      FROM analytics.fill_pnl WHERE close_trip IS NOT NULL
)
SELECT bot_id, symbol, trip_no,
       min(exec_time) FILTER (WHERE opening) AS entry_time,
       max(exec_time) FILTER (WHERE NOT opening) AS exit_time,
       CASE WHEN bool_or(side = 'Buy') FILTER (WHERE opening AND qty > 0)
            THEN 'Long' ELSE 'Short' END AS side,
       sum(qty) FILTER (WHERE opening) AS qty,
       sum(value) FILTER (WHERE opening) / sum(qty) FILTER (WHERE opening) AS avg_entry,
       sum(value) FILTER (WHERE NOT opening) / sum(qty) FILTER (WHERE NOT opening) AS avg_exit,
       sum(gross) AS gross_pnl,
       sum(fee) AS fees,
       sum(gross) - sum(fee) AS net_pnl,
       count(*) AS fills
  FROM parts
 GROUP BY bot_id, symbol, trip_no
HAVING bool_or(ends);

CREATE VIEW analytics.bot_daily_pnl AS
WITH f AS (
    SELECT bot_id, day, sum(gross_pnl) AS gross_pnl, sum(fees) AS fees,
           sum(volume) AS volume, sum(fills)::bigint AS fills
      FROM analytics.daily_rollup GROUP BY bot_id, day
), fu AS (
    SELECT bot_id, (exec_time AT TIME ZONE 'UTC')::date AS day, sum(funding_fee) AS funding
      FROM trading.funding GROUP BY 1, 2
)
SELECT bot_id, day,
       coalesce(f.gross_pnl, 0) - coalesce(f.fees, 0) AS realized_pnl,
       coalesce(f.fees, 0) AS fees,
       coalesce(fu.funding, 0) AS funding,
       coalesce(f.gross_pnl, 0) - coalesce(f.fees, 0) - coalesce(fu.funding, 0) AS net_pnl,
       coalesce(f.volume, 0) AS volume,
       coalesce(f.fills, 0) AS fills,
       coalesce(f.gross_pnl, 0) AS gross_pnl
  FROM f FULL JOIN fu USING (bot_id, day);

CREATE VIEW analytics.symbol_daily_pnl AS
WITH f AS (
    SELECT symbol, day, sum(gross_pnl) AS gross_pnl, sum(fees) AS fees,
           sum(volume) AS volume, sum(fills)::bigint AS fills
      FROM analytics.daily_rollup GROUP BY symbol, day
), fu AS (
    SELECT symbol, (exec_time AT TIME ZONE 'UTC')::date AS day, sum(funding_fee) AS funding
      FROM trading.funding GROUP BY 1, 2
)
SELECT symbol, day,
       coalesce(f.gross_pnl, 0) - coalesce(f.fees, 0) AS realized_pnl,
       coalesce(f.fees, 0) AS fees,
       coalesce(fu.funding, 0) AS funding,
       coalesce(f.gross_pnl, 0) - coalesce(f.fees, 0) - coalesce(fu.funding, 0) AS net_pnl,
       coalesce(f.volume, 0) AS volume,
       coalesce(f.fills, 0) AS fills,
       coalesce(f.gross_pnl, 0) AS gross_pnl
  FROM f FULL JOIN fu USING (symbol, day);

CREATE VIEW analytics.bot_summary AS
WITH days AS (
    SELECT bot_id, day, net_pnl,
           sum(net_pnl) OVER (PARTITION BY bot_id ORDER BY day) AS equity
      FROM analytics.bot_daily_pnl
), dd AS (
    SELECT bot_id, max(peak - equity) AS max_drawdown
      FROM (SELECT bot_id, equity,
                   greatest(0, max(equity) OVER (PARTITION BY bot_id ORDER BY day)) AS peak
              FROM days) x
     GROUP BY bot_id
), tot AS (
    SELECT bot_id, sum(realized_pnl) AS realized_pnl, sum(fees) AS fees,
           sum(funding) AS funding, sum(net_pnl) AS net_pnl, sum(volume) AS volume,
           sum(fills)::bigint AS fills, min(day) AS first_day, max(day) AS last_day
      FROM analytics.bot_daily_pnl GROUP BY bot_id
), trips AS (
    SELECT bot_id, count(*) AS trades,
           count(*) FILTER (WHERE net_pnl > 0) AS wins,
           coalesce(sum(net_pnl) FILTER (WHERE net_pnl > 0), 0) AS gross_win,
           coalesce(-sum(net_pnl) FILTER (WHERE net_pnl < 0), 0) AS gross_loss,
           max(net_pnl) AS best_trade, min(net_pnl) AS worst_trade
      FROM analytics.round_trips GROUP BY bot_id
)
SELECT tot.bot_id, tot.net_pnl, tot.realized_pnl, tot.fees, tot.funding,
       coalesce(trips.trades, 0) AS trades,
       coalesce(trips.wins, 0) AS wins,
       trips.wins::numeric / nullif(trips.trades, 0) AS win_rate,
       trips.gross_win / nullif(trips.gross_loss, 0) AS profit_factor,
       coalesce(dd.max_drawdown, 0) AS max_drawdown,
       trips.best_trade, trips.worst_trade,
       tot.volume, tot.fills, tot.first_day, tot.last_day
  FROM tot
  LEFT JOIN trips USING (bot_id)
  LEFT JOIN dd USING (bot_id);

COMMENT ON VIEW analytics.bot_daily_pnl IS
  'Per bot and UTC day. realized_pnl is net of trading fees (gross_pnl - fees); '
  'funding is positive when paid; net_pnl = realized_pnl - funding.';
COMMENT ON VIEW analytics.bot_summary IS
  'max_drawdown is measured on end-of-day cumulative net_pnl, starting from 0; '
  'trades, win rate, profit factor and best/worst use closed round trips (net of fees).';
"""


def upgrade() -> None:
    app, readonly = role("app"), role("readonly")
    op.execute(TABLES)
    op.execute(REFOLD)
    # One body, three functions: each event has its own transition tables.
    for event, tables in CHANGED.items():
        changed = " UNION ALL ".join(
            f"SELECT bot_id, symbol, exec_time, seq, exec_id FROM {t}" for t in tables
        )
        op.execute(TRIGGER.replace("{event}", event).replace("{changed}", changed))
    op.execute(TRIGGERS)
    op.execute(REPAIR)
    op.execute(VIEWS)
    op.execute(
        f"""
        REVOKE ALL ON FUNCTION analytics.refold(text, text, timestamptz, bigint, text),
                                analytics.repair(boolean),
                                analytics.on_fills_changed_insert(),
                                analytics.on_fills_changed_update(),
                                analytics.on_fills_changed_delete() FROM PUBLIC;
        GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {readonly}, {app};
        """
    )
    # Fills already in the ledger (an upgrade of a running system) get their rows now.
    op.execute("SELECT analytics.repair(true)")


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER fills_analytics_{event} ON trading.fills")
    op.execute(
        """
        DROP VIEW analytics.bot_summary, analytics.bot_daily_pnl, analytics.symbol_daily_pnl,
                  analytics.round_trips, analytics.bot_positions, analytics.fold_status;
        DROP FUNCTION analytics.repair(boolean),
                      analytics.on_fills_changed_insert(),
                      analytics.on_fills_changed_update(),
                      analytics.on_fills_changed_delete(),
                      analytics.refold(text, text, timestamptz, bigint, text);
        DROP TABLE analytics.fold_dirty, analytics.daily_rollup, analytics.fill_pnl;
        """
    )
