"""Matching, accounts and positions: pure synchronous logic, no I/O."""
