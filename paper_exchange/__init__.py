"""A Bybit V5-compatible paper exchange on loopback.

The real pybit client talks to it unchanged (REST ``/v5/...``, private WebSocket
``/v5/private``, public WebSocket ``/v5/public/linear``), so it is the ground truth for
tests, benchmarks, the demo and paper trading. ``paper_exchange.testing`` starts one
in-process for tests; ``alpha run paper-exchange`` runs it as a service.
"""
