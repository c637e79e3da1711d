"""Local PostgreSQL, PgBouncer and Redis for development and tests (``alpha dev services``).

Servers that already answer at the configured addresses are reused; anything missing is
started privately from the system binaries, on free ports, under a run directory.
"""
