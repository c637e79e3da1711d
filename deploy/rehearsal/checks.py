"""From what the rehearsal saw to passed or failed checks: pure functions, no Docker.

Each check names what it found wrong, so a failed rehearsal says where to look; the
checks are tested on their own (tests/deploy/test_rehearsal_checks.py) with the real
compose configuration broken on purpose."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from deploy.rehearsal import risk_check
from deploy.rehearsal.faults import Fault
from deploy.rehearsal.stack import Event

#: Round trips (flat → position → flat) each bot must complete with production parameters.
MIN_ROUND_TRIPS = 2
#: Refusals no market makes legitimate: the request itself was wrong (``10001``: a
#: quantity off the symbol's step, a price off its tick, a parameter missing) or reused an
#: ``orderLinkId`` (``110072``). Others (``110007`` margin, ``110092``/``110093`` a stop
#: the price already passed) are the market's and are only counted.
MALFORMED = {"10001", "110072"}
#: A paused bot's order already in flight may still fill just after the pause.
PAUSE_GRACE_S = 5.0
LISTENER = "websocket_listener"
RESTARTING = ("always", "unless-stopped", "on-failure")
#: A check whose data was never read fails: an empty list proves nothing.
NOT_VERIFIED = "not verified: the rehearsal stopped before it read this"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Observations:
    """Everything the verification reads; filled in by ``observe`` (plain data)."""

    config: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    up_seconds: float | None = None
    unhealthy_after_up: list[str] = field(default_factory=list)
    prometheus_targets: list[tuple[str, str]] = field(default_factory=list)  # (target, health)
    bots: list[dict[str, Any]] = field(default_factory=list)  # trading.bots rows
    registered_symbols: dict[str, str] = field(default_factory=dict)  # by the compose file
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # each bot's strategy
    fills: list[dict[str, Any]] = field(default_factory=list)  # trading.fills, ledger order
    funding: list[dict[str, Any]] = field(default_factory=list)
    capital: dict[str, str] = field(default_factory=dict)  # the capital each bot's host used
    risk_alerts: list[dict[str, Any]] = field(default_factory=list)  # risk_halt / risk_lift
    risk_anchors: dict[str, dict[str, str]] = field(default_factory=dict)  # bot:{id}:risk
    risk_error: str = ""  # why the capital, alerts, anchors or rejections could not be read
    #: The bots' ``order_rejected`` notifications (bot_id, code, symbol, text); ``None``
    #: until read.
    rejections: list[dict[str, str]] | None = None
    risk_grace_s: float = 0.0  # market seconds the host may lag (risk_check.HOST_LAG_S × speed)
    exchange: dict[str, Any] = field(default_factory=dict)  # probes/exchange.py
    redis_positions: dict[str, dict[str, str]] = field(default_factory=dict)
    rebuilt_positions: dict[str, dict[str, str]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    drift_events: list[dict[str, Any]] = field(default_factory=list)
    backup: dict[str, Any] = field(default_factory=dict)
    c2: dict[str, Any] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)  # operations.probe_api
    universe: dict[str, Any] = field(default_factory=dict)  # LXAlgo's, as it published it
    thin_symbols: list[str] = field(default_factory=list)  # below its turnover floor
    spool_files: int | None = None
    memory: dict[str, tuple[int, int]] = field(default_factory=dict)  # peak, limit (bytes)
    #: market.candles: (symbol, interval) → (closed bars, bars not closed at the end).
    candles: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


def _services(config: Mapping[str, Any]) -> dict[str, Any]:
    return dict(config.get("services") or {})


def bot_services(config: Mapping[str, Any]) -> list[str]:
    """The compose services that run a bot (``command: [run, bot, ID]``)."""
    return _bots(config)


def _bots(config: Mapping[str, Any]) -> list[str]:
    return sorted(
        name
        for name, svc in _services(config).items()
        if list(svc.get("command") or [])[:2] == ["run", "bot"]
    )


def check_start_order(obs: Observations) -> Check:
    """Every bot waits for a healthy listener: in the file, and in what Docker did."""
    problems = []
    for bot in _bots(obs.config):
        needs = (_services(obs.config)[bot].get("depends_on") or {}).get(LISTENER) or {}
        if needs.get("condition") != "service_healthy":
            problems.append(f"{bot} does not wait for {LISTENER} to be healthy "
                            f"(depends_on lacks {LISTENER}: service_healthy)")  # fmt: skip
    healthy = [e.at for e in obs.events if e.service == LISTENER and e.action.endswith("healthy")
               and "unhealthy" not in e.action]  # fmt: skip
    for bot in _bots(obs.config):
        starts = [e.at for e in obs.events if e.service == bot and e.action == "start"]
        if starts and (not healthy or starts[0] < healthy[0]):
            problems.append(f"{bot} started before {LISTENER} was healthy")
    migrated = _first(obs.events, "migrate", "die")
    booted = _first(obs.events, "bootstrap", "start")
    if migrated is not None and booted is not None and booted < migrated:
        problems.append("bootstrap started before migrate finished")
    return Check(
        "start order",
        not problems,
        "; ".join(problems)
        or "postgres → migrate → bootstrap → listener (healthy) → bots, as Docker did it",
    )


def _first(events: Iterable[Event], service: str, action: str) -> float | None:
    return next((e.at for e in events if e.service == service and e.action == action), None)


def check_restart_policies(obs: Observations) -> Check:
    one_shots = {"migrate", "bootstrap"}
    missing = [
        f"{name} (restart: {svc.get('restart') or 'none'})"
        for name, svc in sorted(_services(obs.config).items())
        if name not in one_shots and svc.get("restart") not in RESTARTING
    ]
    return Check("restart policies", not missing,
                 "no restart policy: " + ", ".join(missing) if missing
                 else "every long-running service is restarted by Docker")  # fmt: skip


def check_healthy(obs: Observations) -> Check:
    if obs.unhealthy_after_up or obs.up_seconds is None:
        return Check("healthy after up", False, "not healthy: " + ", ".join(obs.unhealthy_after_up))
    return Check(
        "healthy after up", True, f"every service healthy {obs.up_seconds:.0f} s after `up`"
    )


def check_prometheus(obs: Observations) -> Check:
    down = [target for target, health in obs.prometheus_targets if health != "up"]
    if not obs.prometheus_targets or down:
        return Check("prometheus targets", False, "down: " + (", ".join(down) or "no targets"))
    return Check("prometheus targets", True, f"{len(obs.prometheus_targets)} targets, all up")


def check_registrations(obs: Observations) -> Check:
    """Production parameters: each strategy's defaults (only risk limits given), the
    symbols the compose file registers."""
    if not obs.registered_symbols:
        return Check("production registrations", False, NOT_VERIFIED)
    problems = []
    by_id = {row["bot_id"]: row for row in obs.bots}
    for bot_id, symbols in sorted(obs.registered_symbols.items()):
        row = by_id.get(bot_id)
        if row is None:
            problems.append(f"{bot_id} is not registered")
            continue
        defaults = obs.defaults.get(bot_id, {})
        changed = sorted(k for k in set(row["config"]) | set(defaults)
                         if k != "risk" and row["config"].get(k) != defaults.get(k))  # fmt: skip
        if changed or not defaults:
            shown = ", ".join(f"{k}={row['config'].get(k)!r} (default {defaults.get(k)!r})"
                              for k in changed[:4])  # fmt: skip
            problems.append(
                f"{bot_id} differs from its strategy's defaults: {shown or 'none known'}"
            )
        if ",".join(row["symbols"]) != symbols:
            problems.append(f"{bot_id} trades {row['symbols']}, production registers {symbols}")
    return Check(
        "production registrations",
        not problems,
        "; ".join(problems)
        or f"{len(obs.registered_symbols)} bots with their strategies' defaults "
        "and production symbols",
    )


def round_trips(fills: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per bot, how many times a position went from flat back to flat (ledger order)."""
    qty: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    trips: Counter[str] = Counter()
    for fill in fills:
        key = (fill["bot_id"], fill["symbol"])
        signed = Decimal(fill["exec_qty"]) * (1 if fill["side"] == "Buy" else -1)
        before = qty[key]
        qty[key] = before + signed
        if before != 0 and (qty[key] == 0 or (qty[key] > 0) != (before > 0)):
            trips[fill["bot_id"]] += 1
    return dict(trips)


def check_trading(obs: Observations) -> Check:
    trips = round_trips(obs.fills)
    wanted = sorted(obs.registered_symbols)
    if not wanted:
        return Check("trading", False, NOT_VERIFIED)
    short = [f"{b}: {trips.get(b, 0)}" for b in wanted if trips.get(b, 0) < MIN_ROUND_TRIPS]
    shown = ", ".join(f"{b} {trips.get(b, 0)}" for b in wanted)
    if short:
        return Check(
            "trading",
            False,
            f"fewer than {MIN_ROUND_TRIPS} round trips: {', '.join(short)} ({shown})",
        )
    return Check("trading", True, f"round trips with production parameters: {shown}")


def check_risk_limits(obs: Observations) -> Check:
    """No bot entered past its loss limits (deploy/rehearsal/risk_check.py: realized P&L
    from the ledger, conservative, plus the host's own ``risk_halt`` alerts)."""
    if obs.risk_error:
        return Check("risk limits", False, f"not read: {obs.risk_error}")
    if not obs.registered_symbols:
        return Check("risk limits", False, NOT_VERIFIED)
    ok, detail = risk_check.summarize(
        obs.bots, obs.registered_symbols, obs.capital, obs.fills, obs.funding,
        obs.risk_alerts, obs.risk_anchors, timedelta(seconds=obs.risk_grace_s),
    )  # fmt: skip
    return Check("risk limits", ok, detail)


def check_refusals(obs: Observations) -> Check:
    """No order the exchange refused as malformed (:data:`MALFORMED`). A bot that sizes
    with the wrong instrument rules has every such order refused and never trades it: the
    round-trip count alone did not show LXAlgo refused in every symbol its universe added."""
    name = "orders well-formed"
    if obs.risk_error:
        return Check(name, False, f"not read: {obs.risk_error}")
    if obs.rejections is None:
        return Check(name, False, NOT_VERIFIED)
    counted = Counter((r.get("bot_id", ""), r.get("code", "")) for r in obs.rejections)
    shown = ", ".join(f"{bot} {code or '?'}×{n}" for (bot, code), n in sorted(counted.items()))
    bad = [r for r in obs.rejections if r.get("code") in MALFORMED]
    if bad:
        first = bad[0].get("text", "")[:200]
        return Check(name, False, f"{len(bad)} refused as malformed ({shown}); first: {first}")
    return Check(name, True, f"none refused as malformed; refused: {shown or 'none'}")


def check_faults(obs: Observations) -> list[Check]:
    checks = []
    for fault in obs.faults:
        if fault.recovered_after is None:
            checks.append(Check(f"fault: {fault.name}", False, fault.detail or "did not recover"))
        else:
            grew = f"fills reaching the ledger again {fault.recovered_after:.0f} s after the fault"
            notes = "; ".join([*fault.notes, grew])
            checks.append(Check(f"fault: {fault.name}", True, notes))
    if not obs.faults:
        checks.append(Check("faults", False, "no fault was injected"))
    return checks


def check_backup(obs: Observations) -> Check:
    b = obs.backup
    ok = b.get("status") == "verified" and bool(b.get("verified"))
    detail = f"status {b.get('status')!r}, {int(b.get('size_bytes') or 0):,} bytes"
    return Check("backup", ok, detail + (f": {b['error']}" if b.get("error") else ""))


def check_c2(obs: Observations) -> Check:
    c2, problems = obs.c2, []
    if not c2.get("status_answered"):
        problems.append("/status got no answer")
    if c2.get("paused_state") != "paused":
        problems.append(f"/pause left the bot {c2.get('paused_state')!r}")
    bot, at = c2.get("paused_bot"), c2.get("paused_at")
    late = [f for f in obs.fills if f["bot_id"] == bot and f.get("reason") == "entry"
            and at is not None and float(f["ingested_epoch"]) > at + PAUSE_GRACE_S]  # fmt: skip
    if late:
        problems.append(f"{bot} entered {len(late)} time(s) after it was paused")
    if at is not None and not c2.get("resumed"):
        problems.append("/resume got no answer")
    return Check(
        "telegram C2",
        not problems,
        "; ".join(problems)
        or f"/status answered; /pause {bot} stopped its entries; /resume answered",
    )


def check_api(obs: Observations) -> Check:
    """The API answers a viewer with the registry and the analytics, refuses a missing
    token (401) and a viewer's write (403, audited), and serves its OpenAPI document."""
    a, problems = obs.api, []
    if a.get("error"):
        return Check("HTTP API", False, a["error"])
    expected = {
        "healthz": 200, "openapi": 200, "bots_status": 200, "no_token": 401,
        "viewer_pause": 403, "positions_status": 200,
    }  # fmt: skip
    for key, status in expected.items():
        if a.get(key) != status:
            problems.append(f"{key}: {a.get(key)} (expected {status})")
    # What /bots lists: the registry without the reserved `external` and retired bots.
    registry = sorted(
        row["bot_id"]
        for row in obs.bots
        if row["bot_id"] != "external" and row.get("status") != "retired"
    )
    if a.get("bots") != registry:
        problems.append(f"/bots listed {a.get('bots')}, the registry has {registry}")
    served = [(p["symbol"], Decimal(str(p["qty"]))) for p in a.get("positions") or []]
    stored = [(p["symbol"], Decimal(p["qty"])) for p in a.get("db_positions") or []]
    if served != stored:
        problems.append(f"positions {served} differ from analytics.bot_positions {stored}")
    if not a.get("audited_refusals"):
        problems.append("the viewer's refused pause left no audit row")
    return Check(
        "HTTP API",
        not problems,
        "; ".join(problems)
        or f"viewer token read {len(registry)} bots and {a.get('bot')}'s positions as the"
        f" views hold them; no token 401, viewer pause 403 (audited);"
        f" OpenAPI {a.get('openapi_paths')} paths",
    )


def check_executions(obs: Observations) -> list[Check]:
    """Every execution the exchange reports is in the ledger exactly once, and a trade is
    attributed to the bot whose order it filled (its link id's bot code, same account)."""
    codes = {(row["account"], row["bot_code"]): row["bot_id"] for row in obs.bots}
    missing, extra, twice, wrong, total = [], [], [], [], 0
    rows: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for f in obs.fills:
        rows[(f["account"], f["exec_id"])].append(f)
    # An execution split between the bots that held the symbol (an ADL: one pro_rata
    # row per bot, docs/attribution.md) is one execution; any other repeat is twice.
    fills = Counter({key: 1 if _split(parts) else len(parts) for key, parts in rows.items()})
    funding = Counter((f["account"], f["exec_id"], f["bot_id"]) for f in obs.funding)
    funded = {(a, e) for a, e, _ in funding}
    owner = {key: parts[0]["bot_id"] for key, parts in rows.items() if len(parts) == 1}
    expected_fills, expected_funding = set(), set()
    for account, data in obs.exchange.items():
        for item in data["executions"]:
            total += 1
            key = (account, item["execId"])
            if item["execType"] == "Funding":
                expected_funding.add(key)
                continue
            expected_fills.add(key)
            code = (item.get("orderLinkId") or "").split("-", 1)[0]
            bot = codes.get((account, code)) if "-" in (item.get("orderLinkId") or "") else None
            if key in owner and owner[key] != (bot or "external"):
                wrong.append(f"{item['execId']} ({item.get('orderLinkId')}) → {owner[key]}")
            parts = rows.get(key, [])
            if len(parts) > 1 and item.get("execQty") is not None:
                split = sum(Decimal(str(p["exec_qty"])) for p in parts)
                if split != Decimal(str(item["execQty"])):
                    wrong.append(f"{item['execId']}: shares sum to {split}, not {item['execQty']}")
    missing = sorted(expected_fills - set(fills)) + sorted(expected_funding - funded)
    extra = sorted(set(fills) - expected_fills) + sorted(funded - expected_funding)
    twice = [k for k, n in (fills + funding).items() if n > 1]
    problems = []
    if total == 0:
        problems.append("the exchange reports no executions: nothing was verified")
    if missing:
        problems.append(f"{len(missing)} execution(s) missing from the ledger, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} ledger row(s) the exchange never executed, e.g. {extra[:3]}")
    if twice:
        problems.append(f"{len(twice)} in the ledger more than once, e.g. {twice[:3]}")
    once = Check(
        "every execution exactly once",
        not problems,
        "; ".join(problems)
        or f"{len(expected_fills)} trades and {len(expected_funding)} funding executions "
        "from the exchange's REST history, each once in the ledger",
    )
    attributed = Check(
        "attribution",
        not wrong and bool(expected_fills),
        f"{len(wrong)} misattributed, e.g. {wrong[:3]}"
        if wrong
        else f"{len(expected_fills)} trades, each to the bot whose order it filled",
    )
    return [once, attributed]


def _split(parts: list[Mapping[str, Any]]) -> bool:
    """Several rows that are one execution's bot shares (distinct bots, all pro_rata)."""
    bots = [p["bot_id"] for p in parts]
    return (
        len(parts) > 1
        and len(set(bots)) == len(bots)
        and all(p.get("attribution") == "pro_rata" for p in parts)
    )


def check_partial_fills(obs: Observations) -> Check:
    """On the realistic book, some bot orders fill in several executions (a large limit
    from the traded flow, a market order walking the levels); each piece must be in the
    ledger exactly once. None at all means partial fills were never exercised."""
    codes = {(row["account"], row["bot_code"]): row["bot_id"] for row in obs.bots}
    pieces: dict[tuple[str, str], list[str]] = defaultdict(list)
    owner: dict[tuple[str, str], str] = {}
    for account, data in obs.exchange.items():
        for item in data["executions"]:
            link = item.get("orderLinkId") or ""
            bot = codes.get((account, link.split("-", 1)[0])) if "-" in link else None
            if item["execType"] == "Funding" or bot is None or not item.get("orderId"):
                continue
            key = (account, item["orderId"])
            pieces[key].append(item["execId"])
            owner[key] = bot
    several = {k: ids for k, ids in pieces.items() if len(ids) > 1}
    in_ledger = Counter((f["account"], f["exec_id"]) for f in obs.fills)
    off = [f"{k[1]}: {e}" for k, ids in several.items() for e in ids
           if in_ledger[(k[0], e)] != 1]  # fmt: skip
    per_bot = Counter(owner[k] for k in several)
    shown = ", ".join(f"{b} {n}" for b, n in sorted(per_bot.items())) or "none"
    most = max((len(ids) for ids in several.values()), default=0)
    detail = (
        f"{len(several)} of {len(pieces)} bot orders filled in several executions"
        f" ({shown}; at most {most} pieces)"
    )
    if not several:
        return Check("partial fills", False, f"{detail}: partial fills were not exercised")
    if off:
        return Check("partial fills", False, f"{detail}; not once in the ledger: {off[:3]}")
    return Check("partial fills", True, f"{detail}, each piece once in the ledger")


def check_universe(obs: Observations) -> Check:
    """LXAlgo re-selects its universe from the exchange's 24 h turnover: the paper
    market's thin alts must be out of it and the rest in use."""
    u = obs.universe
    if u.get("error"):
        return Check("LXAlgo universe", False, f"not read: {u['error']}")
    symbols = list(u.get("symbols") or [])
    if not symbols:
        return Check("LXAlgo universe", False, "no universe was published")
    wrongly = sorted(set(symbols) & set(obs.thin_symbols))
    shown = f"{len(symbols)} symbols {','.join(symbols)} (at {u.get('updated_at')})"
    if wrongly:
        return Check("LXAlgo universe", False, f"{shown} includes thin {','.join(wrongly)}")
    out = ",".join(obs.thin_symbols) or "none"
    return Check("LXAlgo universe", True, f"{shown}; left out, below its turnover floor: {out}")


def _qty(position: Mapping[str, str]) -> Decimal:
    return Decimal(position.get("qty") or "0")


def check_positions(obs: Observations) -> list[Check]:
    keys = set(obs.redis_positions) | set(obs.rebuilt_positions)
    differ = [k for k in sorted(keys)
              if {f: obs.redis_positions.get(k, {}).get(f) for f in ("qty", "avg_price",
                  "realized_pnl", "fees")} !=
              {f: obs.rebuilt_positions.get(k, {}).get(f) for f in ("qty", "avg_price",
                  "realized_pnl", "fees")}]  # fmt: skip
    rebuild = Check(
        "positions = rebuild",
        not differ and bool(keys),
        f"differ from `alpha positions rebuild`: {differ[:5]}"
        if differ
        else f"{len(keys)} Redis positions equal `alpha positions rebuild`",
    )
    account_of = {row["bot_id"]: row["account"] for row in obs.bots}
    bots: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for key, position in obs.rebuilt_positions.items():
        _, bot_id, symbol = key.split(":", 2)
        if bot_id in account_of:
            bots[(account_of[bot_id], symbol)] += _qty(position)
    exchange: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for account, data in obs.exchange.items():
        for p in data["positions"]:
            size = Decimal(p.get("size") or "0")
            exchange[(account, p["symbol"])] += -size if p.get("side") == "Sell" else size
    off = [
        f"{a} {s}: bots {bots[(a, s)]:f}, exchange {exchange[(a, s)]:f}"
        for a, s in sorted(set(bots) | set(exchange))
        if bots[(a, s)] != exchange[(a, s)]
    ]
    if not obs.exchange:
        summed = Check("positions sum to the exchange's", False, NOT_VERIFIED)
    else:
        summed = Check(
            "positions sum to the exchange's",
            not off,
            "; ".join(off[:5])
            or "per account and symbol, the bots' positions sum to the exchange's",
        )
    return [rebuild, summed]


def check_drift(obs: Observations) -> Check:
    cut = next((f.window for f in obs.faults if f.window), None)
    if cut is None:
        return Check("drift during the cut", False, "the listener was never cut off")
    start, end = cut
    during = [d for d in obs.drift_events if start <= d["detected"] <= end + 5]
    if not during:
        return Check(
            "drift during the cut",
            False,
            "no drift was alerted while the listener was cut off the exchange",
        )
    open_ = [f"{d['account']} {d['symbol']}" for d in during if d["cleared"] is None]
    if open_:
        return Check("drift during the cut", False, f"still open after the reconnect: {open_}")
    worst = max(d["cleared"] - end for d in during)
    return Check(
        "drift during the cut",
        True,
        f"{len(during)} drift alert(s) during the cut, all cleared "
        f"≤ {max(worst, 0):.0f} s after the reconnect",
    )


def check_spool(obs: Observations) -> Check:
    ok = obs.spool_files == 0
    return Check("spool empty", ok, f"{obs.spool_files} file(s) in the listener's spool")


def check_memory(obs: Observations) -> Check:
    over = [f"{s} {p / 2**20:.0f}/{lim / 2**20:.0f} MiB" for s, (p, lim) in obs.memory.items()
            if lim and p >= lim]  # fmt: skip
    shown = ", ".join(f"{s} {p / 2**20:.0f}/{lim / 2**20:.0f}" for s, (p, lim)
                      in sorted(obs.memory.items()) if lim)  # fmt: skip
    if not obs.memory:
        return Check("memory", False, "no memory figures were read")
    return Check(
        "memory",
        not over,
        ("over the limit: " + ", ".join(over)) if over else f"peak/limit MiB: {shown}",
    )


def check_candles(obs: Observations) -> Check:
    """After trading, the collector has stored closed bars of every symbol the bots are
    registered with, at each interval it collects, and never a bar still forming."""
    from deploy.compose_file import collected, is_collector

    found = [svc for svc in _services(obs.config).values() if is_collector(svc)]
    if not found:
        return Check("collected candles", False, "no collector service in the configuration")
    _, intervals = collected(found[0])
    symbols = sorted({s for listed in obs.registered_symbols.values() for s in listed.split(",")})
    missing = [f"{s} {i}" for s in symbols for i in intervals
               if obs.candles.get((s, i), (0, 0))[0] == 0]  # fmt: skip
    forming = [f"{s} {i}" for (s, i), (_, early) in sorted(obs.candles.items()) if early]
    problems = ([f"no closed bars of {', '.join(missing)}"] if missing else []) + (
        [f"bars stored before they closed: {', '.join(forming)}"] if forming else []
    )
    if not symbols:
        problems.append("no registered symbols to look for")
    bars = sum(n for n, _ in obs.candles.values())
    return Check(
        "collected candles",
        not problems,
        "; ".join(problems)
        or f"{bars} closed bars of {len(symbols)} symbols at {', '.join(intervals)} minutes",
    )


def evaluate(obs: Observations) -> list[Check]:
    return [
        check_start_order(obs),
        check_restart_policies(obs),
        check_healthy(obs),
        check_prometheus(obs),
        check_registrations(obs),
        check_trading(obs),
        check_risk_limits(obs),
        check_refusals(obs),
        *check_faults(obs),
        check_backup(obs),
        check_c2(obs),
        check_api(obs),
        *check_executions(obs),
        check_partial_fills(obs),
        check_universe(obs),
        *check_positions(obs),
        check_drift(obs),
        check_spool(obs),
        check_memory(obs),
        check_candles(obs),
    ]
