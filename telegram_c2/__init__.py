"""Telegram command and control (``alpha run c2``).

Operators read and steer their bots from Telegram. The C2 never talks to the exchange:
it writes only what the bots agree to obey (``bot:{id}:state``, the ``commands:{id}``
stream, the kill flag) plus ``trading.bots.status`` and the ``trading.bot_commands`` audit.
"""
