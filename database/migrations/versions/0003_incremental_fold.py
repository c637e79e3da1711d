"""Analytics: fold appended fills incrementally (write cost proportional to the new fills).

Why
---
0002's trigger re-folds every touched (bot, symbol) from its earliest new fill and then
recomputes each touched UTC day of the rollup from ``analytics.fill_pnl``. For an append
(almost every listener batch) that second step re-reads the whole day of the pair: at
~700 fills per pair per day a 500-fill listener INSERT spent ~150 ms in the trigger,
while the listener (the ledger's only writer) needs commits of a few milliseconds.

What changes
------------
* ``analytics.fold_state`` — one row per (bot, symbol): the fold after the last folded
  fill (signed qty, entry cost, round trips started, realized P&L net of fees, fees,
  fills, and that fill's ledger key ``(exec_time, seq, exec_id)``). It is
  ``core.positions.Position`` in SQL and always agrees with the newest ``fill_pnl`` row of
  the pair (both are written in the same sub-transaction).
* The INSERT trigger (still one ``AFTER INSERT … FOR EACH STATEMENT`` with the transition
  table ``new_rows``): per pair, in (bot_id, symbol) order, it takes the same advisory
  lock as before, then reads the new rows in ledger order joined with the pair's state
  (one query, after the locks, so it sees every earlier commit). A pair whose earliest
  new key is after its state's last key (or a pair with no derived rows yet) **appends**:
  its fills are folded in order from the state (the same fold step as ``refold``, from one
  SQL text), and ``analytics.fold_append`` writes the batch in three statements — the
  ``fill_pnl`` rows, one UPSERT per (bot, symbol, day) that **adds** the batch's gross,
  fees, volume and count to ``daily_rollup``, and one UPSERT per pair that advances
  ``fold_state``. Nothing already folded is read. Sums of NUMERIC are exact, so adding
  deltas gives the same rollup as recomputing it.
* Everything else keeps 0002's path: a late fill (key at or before the pair's last
  key), UPDATE and DELETE call ``analytics.refold`` from the earliest changed key, which
  rebuilds ``fill_pnl`` from there, recomputes the rollup from that day on from
  ``fill_pnl`` (absolute, not deltas) and now also sets ``fold_state``. ``repair()``
  re-folds from the start, so it resets all three absolutely.
* Failure isolation is unchanged in effect: the whole batch's append runs in one
  sub-transaction; if anything in it fails, that sub-transaction is rolled back and
  each pair is folded on its own through ``refold`` in its own sub-transaction, exactly
  as in 0002 — a pair that still fails is recorded in ``analytics.fold_dirty`` with a
  WARNING and the fills commit. Outside READ COMMITTED no fold runs (every pair is
  marked dirty), as before.
* Privileges: the trigger function and ``fold_append`` are ``SECURITY DEFINER`` owned by
  the owner, not executable by PUBLIC; the listener has no privilege on any analytics
  table, including ``fold_state`` (readable by app and readonly, like the others).

Upgrade takes a SHARE lock on ``trading.fills`` (the listener's INSERTs wait for the
migration's commit, and the migration waits for in-flight listener transactions), then
derives ``fold_state`` from ``fill_pnl``. Downgrade restores 0002's functions and drops
``fold_state``; the derived tables are valid for both.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATE = r"""
CREATE TABLE analytics.fold_state (
    bot_id     text NOT NULL,
    symbol     text NOT NULL,
    qty        numeric NOT NULL,        -- signed position after the last folded fill
    cost       numeric NOT NULL,        -- entry cost of the open quantity (0 when flat)
    trips      integer NOT NULL,        -- round trips started so far
    realized   numeric NOT NULL,        -- sum(gross_pnl - exec_fee): realized P&L net of fees
    fees       numeric NOT NULL,        -- sum(exec_fee)
    fills      bigint NOT NULL,
    last_time  timestamptz NOT NULL,    -- ledger key of the last folded fill
    last_seq   bigint NOT NULL,
    last_id    text NOT NULL,
    PRIMARY KEY (bot_id, symbol)
);

INSERT INTO analytics.fold_state
SELECT t.bot_id, t.symbol, l.qty_after, l.cost_after, l.trips, t.realized, t.fees, t.fills,
       l.exec_time, l.seq, l.exec_id
  FROM (SELECT bot_id, symbol, sum(gross_pnl - exec_fee) AS realized, sum(exec_fee) AS fees,
               count(*) AS fills
          FROM analytics.fill_pnl GROUP BY bot_id, symbol) t
  CROSS JOIN LATERAL (
        SELECT r.qty_after, r.cost_after, r.trips, r.exec_time, r.seq, r.exec_id
          FROM analytics.fill_pnl r
         WHERE r.bot_id = t.bot_id AND r.symbol = t.symbol
         ORDER BY r.exec_time DESC, r.seq DESC, r.exec_id DESC LIMIT 1) l;
"""

# Variables of the fold, shared by refold and the append trigger.
FOLD_VARS = r"""
    q       numeric := 0;     -- signed position
    cost    numeric := 0;     -- entry cost of the open quantity
    trip    integer := 0;     -- round trips started
    f       record;
    s       numeric;          -- signed fill quantity
    qb      numeric;
    cb      numeric;
    removed numeric;
    closed  numeric;
    opened  numeric;
    gross   numeric;
    cfee    numeric;
    ofee    numeric;
    ctrip   integer;
    otrip   integer;
    i       integer := 0;     -- rows in out
    out     analytics.fill_pnl[] := '{}';
"""

# One fill ``f`` folded into (q, cost, trip); its fill_pnl row is appended to ``out``.
# Exactly 0002's step (core.positions' rules); the one text both paths run.
FOLD_STEP = r"""
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
        i := i + 1;
        out[i] := ROW(f.exchange, f.exec_id, f.bot_id, f.symbol, f.exec_time, f.seq, f.side,
                      f.exec_price, f.exec_qty, f.exec_value, f.exec_fee, qb, q, cb, cost,
                      removed, closed, opened, gross, cfee, ofee, ctrip, otrip,
                      ctrip IS NOT NULL AND (q = 0 OR opened > 0), trip)::analytics.fill_pnl;
"""

# Rows folded in memory are written in chunks of this many (a re-fold of a long history
# or a very large INSERT never holds more than this in one array).
CHUNK = 10000

# Append-only writer: fill_pnl rows (in ledger order per pair, all after the pair's state),
# plus their deltas to the rollup and the state. Chunks of one batch compose.
APPEND = r"""
CREATE FUNCTION analytics.fold_append(p_rows analytics.fill_pnl[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO analytics.fill_pnl SELECT * FROM unnest(p_rows);

    INSERT INTO analytics.daily_rollup AS d (bot_id, symbol, day, gross_pnl, fees, volume, fills)
    SELECT r.bot_id, r.symbol, (r.exec_time AT TIME ZONE 'UTC')::date,
           sum(r.gross_pnl), sum(r.exec_fee), sum(r.exec_value), count(*)
      FROM unnest(p_rows) r
     GROUP BY 1, 2, 3
    ON CONFLICT (bot_id, symbol, day) DO UPDATE
       SET gross_pnl = d.gross_pnl + EXCLUDED.gross_pnl,
           fees = d.fees + EXCLUDED.fees,
           volume = d.volume + EXCLUDED.volume,
           fills = d.fills + EXCLUDED.fills;

    INSERT INTO analytics.fold_state AS st
    SELECT l.bot_id, l.symbol, l.qty_after, l.cost_after, l.trips, t.realized, t.fees, t.fills,
           l.exec_time, l.seq, l.exec_id
      FROM (SELECT r.bot_id, r.symbol, sum(r.gross_pnl - r.exec_fee) AS realized,
                   sum(r.exec_fee) AS fees, count(*) AS fills
              FROM unnest(p_rows) r GROUP BY 1, 2) t
      JOIN (SELECT DISTINCT ON (r.bot_id, r.symbol) r.bot_id, r.symbol, r.qty_after,
                   r.cost_after, r.trips, r.exec_time, r.seq, r.exec_id
              FROM unnest(p_rows) r
             ORDER BY r.bot_id, r.symbol, r.exec_time DESC, r.seq DESC, r.exec_id DESC) l
        ON l.bot_id = t.bot_id AND l.symbol = t.symbol
    ON CONFLICT (bot_id, symbol) DO UPDATE
       SET qty = EXCLUDED.qty, cost = EXCLUDED.cost, trips = EXCLUDED.trips,
           realized = st.realized + EXCLUDED.realized,
           fees = st.fees + EXCLUDED.fees,
           fills = st.fills + EXCLUDED.fills,
           last_time = EXCLUDED.last_time, last_seq = EXCLUDED.last_seq,
           last_id = EXCLUDED.last_id;
END $$;
"""

# 0002's refold, writing fill_pnl in chunks and maintaining fold_state (absolute).
REFOLD = r"""
CREATE OR REPLACE FUNCTION analytics.refold(p_bot text, p_symbol text,
                                            p_time timestamptz DEFAULT '-infinity',
                                            p_seq bigint DEFAULT -9223372036854775808,
                                            p_id text DEFAULT '')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
{FOLD_VARS}
    n          bigint := 0;
    prefix     boolean;          -- derived rows before the key exist
    st         analytics.fold_state;
    base_real  numeric := 0;     -- realized/fees/fills of the rows before the key
    base_fees  numeric := 0;
    base_fills bigint := 0;
    add_real   numeric;
    add_fees   numeric;
    add_fills  bigint;
    l          record;
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
    prefix := FOUND;
    IF NOT prefix THEN
        q := 0; cost := 0; trip := 0;
    END IF;

    SELECT * INTO st FROM analytics.fold_state x WHERE x.bot_id = p_bot AND x.symbol = p_symbol;
    IF prefix AND FOUND THEN
        -- The state covers every derived row; take away those about to be re-derived.
        SELECT st.realized - coalesce(sum(r.gross_pnl - r.exec_fee), 0),
               st.fees - coalesce(sum(r.exec_fee), 0), st.fills - count(*)
          INTO base_real, base_fees, base_fills
          FROM analytics.fill_pnl r
         WHERE r.bot_id = p_bot AND r.symbol = p_symbol
           AND (r.exec_time, r.seq, r.exec_id) >= (p_time, p_seq, p_id);
    ELSIF prefix THEN
        -- No state (never expected): sum the prefix itself.
        SELECT coalesce(sum(r.gross_pnl - r.exec_fee), 0), coalesce(sum(r.exec_fee), 0), count(*)
          INTO base_real, base_fees, base_fills
          FROM analytics.fill_pnl r
         WHERE r.bot_id = p_bot AND r.symbol = p_symbol
           AND (r.exec_time, r.seq, r.exec_id) < (p_time, p_seq, p_id);
    END IF;

    DELETE FROM analytics.fill_pnl r
     WHERE r.bot_id = p_bot AND r.symbol = p_symbol
       AND (r.exec_time, r.seq, r.exec_id) >= (p_time, p_seq, p_id);

    FOR f IN
        SELECT x.exchange, x.exec_id, x.bot_id, x.symbol, x.exec_time, x.seq, x.side,
               x.exec_price, x.exec_qty, x.exec_value, x.exec_fee
          FROM trading.fills x
         WHERE x.bot_id = p_bot AND x.symbol = p_symbol
           AND (x.exec_time, x.seq, x.exec_id) >= (p_time, p_seq, p_id)
         ORDER BY x.exec_time, x.seq, x.exec_id
    LOOP
{FOLD_STEP}
        IF i >= {CHUNK} THEN
            INSERT INTO analytics.fill_pnl SELECT * FROM unnest(out);
            n := n + i;
            out := '{}';
            i := 0;
        END IF;
    END LOOP;
    IF i > 0 THEN
        INSERT INTO analytics.fill_pnl SELECT * FROM unnest(out);
        n := n + i;
    END IF;

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

    SELECT r.qty_after, r.cost_after, r.trips, r.exec_time, r.seq, r.exec_id INTO l
      FROM analytics.fill_pnl r
     WHERE r.bot_id = p_bot AND r.symbol = p_symbol
     ORDER BY r.exec_time DESC, r.seq DESC, r.exec_id DESC
     LIMIT 1;
    IF NOT FOUND THEN
        DELETE FROM analytics.fold_state x WHERE x.bot_id = p_bot AND x.symbol = p_symbol;
    ELSE
        SELECT coalesce(sum(r.gross_pnl - r.exec_fee), 0), coalesce(sum(r.exec_fee), 0), count(*)
          INTO add_real, add_fees, add_fills
          FROM analytics.fill_pnl r
         WHERE r.bot_id = p_bot AND r.symbol = p_symbol
           AND (r.exec_time, r.seq, r.exec_id) >= (p_time, p_seq, p_id);
        INSERT INTO analytics.fold_state AS x
        VALUES (p_bot, p_symbol, l.qty_after, l.cost_after, l.trips, base_real + add_real,
                base_fees + add_fees, base_fills + add_fills, l.exec_time, l.seq, l.exec_id)
        ON CONFLICT (bot_id, symbol) DO UPDATE
           SET qty = EXCLUDED.qty, cost = EXCLUDED.cost, trips = EXCLUDED.trips,
               realized = EXCLUDED.realized, fees = EXCLUDED.fees, fills = EXCLUDED.fills,
               last_time = EXCLUDED.last_time, last_seq = EXCLUDED.last_seq,
               last_id = EXCLUDED.last_id;
    END IF;

    DELETE FROM analytics.fold_dirty d WHERE d.bot_id = p_bot AND d.symbol = p_symbol
       AND p_time = '-infinity';
    RETURN n;
END $$;
"""

INSERT_TRIGGER = r"""
CREATE OR REPLACE FUNCTION analytics.on_fills_changed_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
{FOLD_VARS}
    g          record;
    appends    boolean := false;  -- the current pair appends (else it is re-folded)
    pb         text;              -- current pair
    ps         text;
    late_bot   text[] := '{}';    -- pairs to re-fold, with their earliest new key
    late_sym   text[] := '{}';
    late_time  timestamptz[] := '{}';
    late_seq   bigint[] := '{}';
    late_id    text[] := '{}';
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        BEGIN
            -- Lock every touched pair, in (bot_id, symbol) order (no deadlock between two
            -- writers), before reading any state: the next query sees all earlier commits.
            FOR g IN SELECT DISTINCT bot_id, symbol FROM new_rows ORDER BY bot_id, symbol LOOP
                PERFORM pg_advisory_xact_lock(
                    hashtextextended('analytics.fold/' || g.bot_id || '/' || g.symbol, 0));
            END LOOP;

            FOR f IN
                SELECT n.exchange, n.exec_id, n.bot_id, n.symbol, n.exec_time, n.seq, n.side,
                       n.exec_price, n.exec_qty, n.exec_value, n.exec_fee,
                       st.qty AS st_qty, st.cost AS st_cost, st.trips AS st_trips,
                       CASE WHEN st.bot_id IS NULL
                            THEN NOT EXISTS (SELECT FROM analytics.fill_pnl r
                                              WHERE r.bot_id = n.bot_id AND r.symbol = n.symbol)
                            ELSE (n.exec_time, n.seq, n.exec_id)
                                 > (st.last_time, st.last_seq, st.last_id)
                       END AS after_state
                  FROM new_rows n
                  LEFT JOIN analytics.fold_state st
                    ON st.bot_id = n.bot_id AND st.symbol = n.symbol
                 ORDER BY n.bot_id, n.symbol, n.exec_time, n.seq, n.exec_id
            LOOP
                IF f.bot_id IS DISTINCT FROM pb OR f.symbol IS DISTINCT FROM ps THEN
                    -- A pair's first (earliest) new fill decides its path.
                    pb := f.bot_id;
                    ps := f.symbol;
                    appends := f.after_state;
                    IF appends THEN
                        q := coalesce(f.st_qty, 0);
                        cost := coalesce(f.st_cost, 0);
                        trip := coalesce(f.st_trips, 0);
                    ELSE
                        late_bot := late_bot || f.bot_id;
                        late_sym := late_sym || f.symbol;
                        late_time := late_time || f.exec_time;
                        late_seq := late_seq || f.seq;
                        late_id := late_id || f.exec_id;
                    END IF;
                END IF;
                CONTINUE WHEN NOT appends;
{FOLD_STEP}
                IF i >= {CHUNK} THEN
                    PERFORM analytics.fold_append(out);
                    out := '{}';
                    i := 0;
                END IF;
            END LOOP;
            IF i > 0 THEN
                PERFORM analytics.fold_append(out);
            END IF;

            FOR k IN 1 .. coalesce(array_length(late_bot, 1), 0) LOOP
                PERFORM analytics.refold(late_bot[k], late_sym[k], late_time[k], late_seq[k],
                                         late_id[k]);
            END LOOP;
            RETURN NULL;
        EXCEPTION WHEN OTHERS THEN
            -- Nothing of the batch's fold is kept; fold each pair on its own below, so one
            -- failing pair cannot keep the others from being folded.
            RAISE WARNING 'analytics: batch fold failed (%), folding pair by pair', SQLERRM;
        END;
    END IF;

    -- 0002's path, pair by pair, each in its own sub-transaction.
    FOR g IN
        SELECT DISTINCT ON (bot_id, symbol) bot_id, symbol, exec_time, seq, exec_id
          FROM new_rows
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


def _fill(template: str) -> str:
    return (
        template.replace("{FOLD_VARS}", FOLD_VARS)
        .replace("{FOLD_STEP}", FOLD_STEP)
        .replace("{CHUNK}", str(CHUNK))
    )


def upgrade() -> None:
    # Hold the listener's INSERTs (and wait for in-flight ones) while the state is derived.
    op.execute("LOCK TABLE trading.fills IN SHARE MODE")
    op.execute(STATE)
    op.execute(APPEND)
    op.execute(_fill(REFOLD))
    op.execute(_fill(INSERT_TRIGGER))
    op.execute("REVOKE ALL ON FUNCTION analytics.fold_append(analytics.fill_pnl[]) FROM PUBLIC")


def downgrade() -> None:
    v0002 = importlib.import_module("database.migrations.versions.0002_analytics")
    op.execute("LOCK TABLE trading.fills IN SHARE MODE")
    op.execute(v0002.REFOLD.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    changed = "SELECT bot_id, symbol, exec_time, seq, exec_id FROM new_rows"
    op.execute(
        v0002.TRIGGER.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        .replace("{event}", "insert")
        .replace("{changed}", changed)
    )
    op.execute("DROP FUNCTION analytics.fold_append(analytics.fill_pnl[])")
    op.execute("DROP TABLE analytics.fold_state")
