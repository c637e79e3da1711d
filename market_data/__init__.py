"""The market data store: exchange history (candles, funding rates) kept exactly.

``spans`` is the calendar arithmetic (dates, the bar grid, contiguous runs), ``store``
the SQL against ``market.*``, ``download`` the paging through pybit that fills the
store, ``cli`` the thin ``alpha data`` verbs (docs/research.md).
"""
