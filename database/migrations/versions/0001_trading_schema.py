# ruff: noqa: E501  (SQL reads better with its columns aligned than wrapped)
"""The trading schema: bot registry, the fill ledger, orders, funding, audit and ops tables.

The ledger tables (fills, orders, funding) are written only by the listener role:
GRANTs keep the other roles out, and a statement trigger refuses every other
``current_user`` — including the owner and superusers — so the rule holds even for
someone who can bypass GRANTs. A full ``pg_restore`` still works because pg_dump puts
triggers in the post-data section (created after the data is loaded); a data-only
restore must use ``--disable-triggers``.

Money is NUMERIC without a scale: it stores exactly the decimal string the exchange
sent. Times are timestamptz (UTC).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

from database.migrations.roles import role

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LEDGER_TABLES = ("fills", "orders", "funding")


def upgrade() -> None:
    owner, listener, app, readonly = (role(k) for k in ("owner", "listener", "app", "readonly"))
    op.execute(f"CREATE SCHEMA trading AUTHORIZATION {owner}")
    op.execute(f"CREATE SCHEMA analytics AUTHORIZATION {owner}")

    op.execute(
        r"""
        CREATE TABLE trading.bots (
            bot_id          text PRIMARY KEY CHECK (bot_id ~ '^[a-z][a-z0-9_]{2,31}$'),
            bot_code        text NOT NULL UNIQUE CHECK (bot_code ~ '^[a-z0-9]{2,8}$'),
            bot_name        text NOT NULL CHECK (length(bot_name) BETWEEN 1 AND 100),
            bot_type        text NOT NULL,
            strategy_name   text NOT NULL,
            status          text NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'paused', 'stopped', 'retired')),
            mode            text NOT NULL CHECK (mode IN ('live', 'testnet', 'demo', 'paper')),
            account         text NOT NULL DEFAULT 'main' CHECK (account ~ '^[a-z][a-z0-9_]{0,31}$'),
            redis_db        integer CHECK (redis_db BETWEEN 0 AND 15),
            symbols         text[] NOT NULL DEFAULT '{}',
            config          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
            initial_capital numeric CHECK (initial_capital >= 0),
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            last_heartbeat  timestamptz
        );
        -- A retired bot gives its Redis DB back; two live bots never share one.
        CREATE UNIQUE INDEX bots_redis_db_live ON trading.bots (redis_db)
            WHERE status <> 'retired' AND redis_db IS NOT NULL;

        INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name, mode, account)
        VALUES ('external', 'ext', 'External / unattributed', 'external',
                'executions no bot can claim (manual trades, ADL, liquidations)', 'live', 'main');
        """
    )

    op.execute(
        r"""
        CREATE TABLE trading.fills (
            exchange      text NOT NULL DEFAULT 'bybit',
            account       text NOT NULL,
            category      text NOT NULL DEFAULT 'linear',
            exec_id       text NOT NULL,
            bot_id        text NOT NULL REFERENCES trading.bots (bot_id),
            symbol        text NOT NULL,
            order_id      text NOT NULL DEFAULT '',
            order_link_id text NOT NULL DEFAULT '',
            reason        text,
            side          text NOT NULL CHECK (side IN ('Buy', 'Sell')),
            exec_price    numeric NOT NULL CHECK (exec_price >= 0),
            exec_qty      numeric NOT NULL CHECK (exec_qty >= 0),
            exec_value    numeric NOT NULL CHECK (exec_value >= 0),
            exec_fee      numeric NOT NULL DEFAULT 0,
            fee_currency  text NOT NULL DEFAULT 'USDT',
            is_maker      boolean NOT NULL DEFAULT false,
            exec_type     text NOT NULL DEFAULT 'Trade' CHECK (exec_type <> 'Funding'),
            exec_time     timestamptz NOT NULL,
            seq           bigint NOT NULL DEFAULT 0,
            source        text NOT NULL CHECK (source IN ('ws', 'rest')),
            raw           jsonb NOT NULL,
            ingested_at   timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT fills_exchange_exec_id_key PRIMARY KEY (exchange, exec_id)
        );
        -- Ledger order for the position fold and per-bot P&L.
        CREATE INDEX fills_bot_symbol_order ON trading.fills (bot_id, symbol, exec_time, seq, exec_id);
        -- The listener's catch-up starts at max(exec_time) per account.
        CREATE INDEX fills_account_time ON trading.fills (account, exec_time);
        CREATE INDEX fills_symbol_time ON trading.fills (symbol, exec_time);
        CREATE INDEX fills_order_id ON trading.fills (order_id);

        CREATE TABLE trading.funding (
            exchange      text NOT NULL DEFAULT 'bybit',
            account       text NOT NULL,
            category      text NOT NULL DEFAULT 'linear',
            exec_id       text NOT NULL,
            bot_id        text NOT NULL REFERENCES trading.bots (bot_id),
            symbol        text NOT NULL,
            side          text NOT NULL CHECK (side IN ('Buy', 'Sell')),
            -- Bybit's execFee for a Funding execution: positive is paid, negative received.
            funding_fee   numeric NOT NULL,
            fee_rate      numeric,
            mark_price    numeric,
            position_qty  numeric,
            position_value numeric,
            exec_time     timestamptz NOT NULL,
            source        text NOT NULL CHECK (source IN ('ws', 'rest')),
            raw           jsonb NOT NULL,
            ingested_at   timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT funding_exchange_exec_id_key PRIMARY KEY (exchange, exec_id)
        );
        CREATE INDEX funding_bot_time ON trading.funding (bot_id, exec_time);
        CREATE INDEX funding_account_time ON trading.funding (account, exec_time);

        CREATE TABLE trading.orders (
            exchange        text NOT NULL DEFAULT 'bybit',
            account         text NOT NULL,
            category        text NOT NULL DEFAULT 'linear',
            order_id        text NOT NULL,
            order_link_id   text NOT NULL DEFAULT '',
            bot_id          text NOT NULL REFERENCES trading.bots (bot_id),
            reason          text,
            symbol          text NOT NULL,
            side            text NOT NULL CHECK (side IN ('Buy', 'Sell')),
            order_type      text NOT NULL,
            time_in_force   text,
            status          text NOT NULL,
            price           numeric,
            qty             numeric NOT NULL,
            cum_exec_qty    numeric NOT NULL DEFAULT 0,
            cum_exec_value  numeric NOT NULL DEFAULT 0,
            avg_price       numeric,
            trigger_price   numeric,
            reduce_only     boolean NOT NULL DEFAULT false,
            cancel_type     text,
            reject_reason   text,
            created_time    timestamptz,
            updated_time    timestamptz,
            raw             jsonb NOT NULL,
            ingested_at     timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT orders_exchange_order_id_key PRIMARY KEY (exchange, order_id)
        );
        CREATE INDEX orders_bot_status ON trading.orders (bot_id, status);
        CREATE INDEX orders_link_id ON trading.orders (order_link_id) WHERE order_link_id <> '';
        CREATE INDEX orders_account_status ON trading.orders (account, status);

        -- Messages the listener could not parse: kept for inspection, never dropped silently.
        CREATE TABLE trading.fill_rejects (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account      text,
            topic        text,
            reason       text NOT NULL,
            message      text NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now()
        );
        """
    )

    op.execute(
        r"""
        CREATE TABLE trading.bot_commands (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            created_at  timestamptz NOT NULL DEFAULT now(),
            channel     text NOT NULL DEFAULT 'telegram' CHECK (channel IN ('telegram', 'cli', 'system')),
            user_id     bigint,
            username    text,
            chat_id     bigint,
            command     text NOT NULL,
            args        text[] NOT NULL DEFAULT '{}',
            bot_id      text,
            outcome     text NOT NULL CHECK (outcome IN
                        ('accepted', 'refused', 'pending', 'confirmed', 'expired', 'failed', 'cancelled')),
            detail      text
        );
        CREATE INDEX bot_commands_time ON trading.bot_commands (created_at);

        CREATE TABLE trading.sync_runs (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job         text NOT NULL,
            account     text,
            started_at  timestamptz NOT NULL,
            finished_at timestamptz NOT NULL,
            duration_ms integer NOT NULL CHECK (duration_ms >= 0),
            status      text NOT NULL CHECK (status IN ('ok', 'found', 'drift', 'error')),
            checked     integer NOT NULL DEFAULT 0,
            found       integer NOT NULL DEFAULT 0,
            details     jsonb NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX sync_runs_job_time ON trading.sync_runs (job, started_at DESC);

        CREATE TABLE trading.drift_events (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account       text NOT NULL,
            symbol        text NOT NULL,
            exchange_qty  numeric NOT NULL,
            ledger_qty    numeric NOT NULL,
            per_bot       jsonb NOT NULL DEFAULT '{}'::jsonb,
            detected_at   timestamptz NOT NULL DEFAULT now(),
            last_seen_at  timestamptz NOT NULL DEFAULT now(),
            cleared_at    timestamptz
        );
        -- At most one open drift per (account, symbol): it is updated, then cleared.
        CREATE UNIQUE INDEX drift_events_open ON trading.drift_events (account, symbol)
            WHERE cleared_at IS NULL;

        CREATE TABLE trading.wallet_snapshots (
            id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account          text NOT NULL,
            taken_at         timestamptz NOT NULL DEFAULT now(),
            coin             text NOT NULL DEFAULT 'USDT',
            equity           numeric NOT NULL,
            wallet_balance   numeric NOT NULL,
            available        numeric,
            unrealised_pnl   numeric,
            raw              jsonb NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX wallet_snapshots_account_time ON trading.wallet_snapshots (account, taken_at DESC);

        CREATE TABLE trading.backups (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            backup_date     date NOT NULL,
            kind            text NOT NULL DEFAULT 'scheduled' CHECK (kind IN ('scheduled', 'manual')),
            status          text NOT NULL CHECK (status IN ('running', 'verified', 'failed', 'deleted')),
            started_at      timestamptz NOT NULL DEFAULT now(),
            finished_at     timestamptz,
            verified_at     timestamptz,
            dump_path       text,
            globals_path    text,
            size_bytes      bigint,
            sha256          text,
            row_counts      jsonb,
            ledger_checksum jsonb,
            error           text,
            CHECK (status <> 'verified' OR (verified_at IS NOT NULL AND sha256 IS NOT NULL
                                            AND ledger_checksum IS NOT NULL))
        );
        CREATE INDEX backups_date ON trading.backups (backup_date DESC);
        """
    )

    # The single-writer guard (docs/ledger.md invariant 2).
    op.execute(
        f"""
        CREATE FUNCTION trading.guard_ledger_writer() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_user <> {listener.replace('"', "'")} THEN
                RAISE EXCEPTION 'trading.% is written only by the listener role, not by %',
                    TG_TABLE_NAME, current_user
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'fills reach the ledger through the websocket listener';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table in LEDGER_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_single_writer BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON trading.{table} FOR EACH STATEMENT EXECUTE FUNCTION trading.guard_ledger_writer()"
        )

    grants = f"""
        REVOKE ALL ON SCHEMA trading, analytics FROM PUBLIC;
        GRANT USAGE ON SCHEMA trading, analytics TO {listener}, {app}, {readonly};
        GRANT SELECT ON ALL TABLES IN SCHEMA trading TO {listener}, {app}, {readonly};
        GRANT INSERT, UPDATE ON trading.fills, trading.orders, trading.funding TO {listener};
        GRANT INSERT ON trading.fill_rejects TO {listener};
        -- The listener hands wallet updates and reconnect notes to the ops tables too.
        GRANT INSERT ON trading.wallet_snapshots TO {listener};
        GRANT UPDATE (status, last_heartbeat, updated_at) ON trading.bots TO {app};
        GRANT INSERT ON trading.bot_commands, trading.sync_runs, trading.wallet_snapshots TO {app};
        GRANT INSERT, UPDATE ON trading.drift_events TO {app};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA analytics
            GRANT SELECT ON TABLES TO {readonly}, {app};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA trading
            GRANT SELECT ON TABLES TO {listener}, {app}, {readonly};
    """
    op.execute(grants)


def downgrade() -> None:
    op.execute("DROP SCHEMA analytics CASCADE")
    op.execute("DROP SCHEMA trading CASCADE")
