"""Nightly backups that count only once proven restorable (docs/ledger.md invariant 9).

``dump`` takes a pg_dump of one exported snapshot and the source checksums in that same
snapshot; ``verify`` restores into a scratch database and compares; ``store`` records
the outcome in ``trading.backups`` (``verified`` only through a passing verify);
``retention`` prunes; ``service`` schedules; ``cli`` is ``alpha backup …``.
"""
