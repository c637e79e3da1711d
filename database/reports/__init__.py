"""P&L reports from the analytics views: queries, the chart, ``alpha report pnl``."""
