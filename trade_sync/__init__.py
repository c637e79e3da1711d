"""Trade sync: the independent auditor that proves the ledger and the exchange agree.

It never writes fills (the app role cannot): executions and order states the ledger
lacks are handed to the listener over ``core.redis_keys.HANDOVER``. Jobs live in
``trade_sync.jobs`` (one module each), the one scheduler in ``trade_sync.scheduler``,
history import in ``trade_sync.backfill``.
"""
