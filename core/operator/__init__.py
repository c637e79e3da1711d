"""What an operator's channel (the Telegram C2, the HTTP API) does to bots: the registry
it can name, the effects bots obey, and the audit row each command leaves.

One implementation of each action, shared by every channel (docs/ledger.md invariant 7
and invariant 8), so a pause from the API and a pause from Telegram cannot drift apart.
"""
