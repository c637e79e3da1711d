"""``alpha demo``: the production topology on one machine against the paper exchange."""
