"""The host makes the leverage a bot sizes for true on the exchange before entering."""

from __future__ import annotations

import json
from decimal import Decimal

from core import redis_keys
from core.exchange.client import make_http
from core.exchange.rest import positions
from core.redis_client import redis_client
from tests.bots.e2e.harness import SYMBOL, flat_bars, stack
from tests.bots.e2e.test_e2e_shortseller import CONFIG, _bars


def _leverage(s) -> Decimal:
    (item,) = positions(make_http(s.settings, "main"), SYMBOL)
    return Decimal(item["leverage"])


def test_leverage_is_set_before_the_first_entry(database, redis, tmp_path):
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("ss_lev", "sl5", "shortseller", CONFIG | {"leverage": "5"}, redis_db=1)
        assert _leverage(s) == 10  # the account's default
        s.start_bot("ss_lev")
        s.play()  # the cross: the host sets 5× first, then sells 10,000 × 7 % × 5 / 59,800
        assert _leverage(s) == 5
        assert s.qty("ss_lev") == -Decimal("0.058")


def test_an_entry_is_refused_with_one_alert_when_leverage_cannot_be_set(database, redis, tmp_path):
    history, live = _bars()
    live = live[:1] + flat_bars(59800, 3) + [(59800, 59800, 59000, 59000)]
    with stack(database, tmp_path, history + live, len(history)) as s:
        # 2.345× is off the exchange's 0.01 leverage step: it refuses to set it.
        s.register("ss_lev", "sl7", "shortseller", CONFIG | {"leverage": "2.345"}, redis_db=1)
        s.start_bot("ss_lev")
        s.play(5)
        assert s.qty("ss_lev") == 0
        assert [o for o in s.orders() if o["orderLinkId"].startswith("sl7-")] == []
        infra = redis_client(s.settings, s.settings.redis.infra_db)
        alerts = [fields for _, fields in infra.xrange(redis_keys.ALERTS)]
        leverage = [a for a in alerts if a["kind"] == "leverage"]
        assert len(leverage) == 1, json.dumps(alerts)
        assert leverage[0]["bot_id"] == "ss_lev" and leverage[0]["symbol"] == SYMBOL
        assert "cannot set leverage 2.345" in leverage[0]["text"]
        assert _leverage(s) == 10
