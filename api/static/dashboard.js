// Alpha's dashboard: the fleet and each bot's page, read over /api/v1/ with a bearer
// token kept in this tab's sessionStorage. No framework, no build step. Every value from
// the API is put on the page with textContent (never innerHTML), and money is shown as
// the decimal string the API sends: it is never turned into a float.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "alpha.token";
// The page follows GET /api/v1/events: a bot's state changes in place, a new fill
// re-reads the page (positions and P&L moved). Polling is only the fallback while the
// stream is down, and a slow refresh of what no event announces (heartbeat ages).
const REFRESH_MS = 30000; // without the stream: one request (GET /fleet), whatever the fleet
const LIVE_REFRESH_MS = 300000; // with it: heartbeat ages only
const STREAM_RETRY_MS = 3000;
const FILL_SETTLE_MS = 1000; // a burst of fills is one re-read
const $ = (id) => document.getElementById(id);

let me = null; // {name, role} of the token
let timer = null;
let live = false; // the event stream is connected
let stream = null; // its AbortController
let lastEventId = null; // where a reconnect resumes
let settle = null;

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, method = "GET") {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(API + path, {
    method, headers: { Authorization: "Bearer " + token }, cache: "no-store",
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    throw new ApiError(response.status, message);
  }
  return body;
}

function say(text, isError = false) {
  const box = $("message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

const SECTIONS = ["login", "fleet", "bot", "accounts", "alerts", "audit"];
function show(section) {
  for (const id of SECTIONS) $(id).hidden = id !== section;
  $("nav").hidden = section === "login";
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function signed(value) { // a decimal string, coloured by its sign, never parsed
  if (value === null || value === undefined) return el("td", "—", "num empty");
  const sign = value.startsWith("-") ? "neg" : /^[0.]+$/.test(value) ? "" : "pos";
  return el("td", value, ("num " + sign).trim());
}

function stateChip(state) {
  const name = state || "unknown";
  return el("span", name, "state state-" + name);
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 120) return Math.round(seconds) + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  return Math.round(seconds / 3600) + " h";
}

function todayUtc() { return new Date().toISOString().slice(0, 10); }

function positionText(positions) {
  const open = positions.filter((p) => !/^-?[0.]+$/.test(p.qty));
  return open.length ? open.map((p) => p.symbol + " " + p.qty).join(", ") : "flat";
}

function table(node, columns, rows, emptyText) {
  node.replaceChildren();
  const head = el("tr");
  for (const [title, , numeric] of columns) head.append(el("th", title, numeric ? "num" : ""));
  node.append(el("thead"), el("tbody"));
  node.tHead.append(head);
  if (!rows.length) {
    const cell = el("td", emptyText, "empty");
    cell.colSpan = columns.length;
    const tr = el("tr");
    tr.append(cell);
    node.tBodies[0].append(tr);
    return;
  }
  for (const row of rows) {
    const tr = el("tr");
    for (const [, key, numeric, money] of columns) {
      tr.append(money ? signed(row[key]) : el("td", row[key], numeric ? "num" : ""));
    }
    node.tBodies[0].append(tr);
  }
}

// One request for the whole fleet (GET /fleet): a page per bot would cost 1 + 2 requests
// per bot and run into the per-token rate limit past about 20 bots.
async function renderFleet() {
  const { bots } = await api("/fleet");
  const body = $("fleet-table").tBodies[0];
  body.replaceChildren();
  for (const bot of bots) {
    const tr = el("tr");
    tr.dataset.bot = bot.bot_id;
    const name = el("td");
    const link = el("a", bot.bot_id);
    link.href = "#/bots/" + encodeURIComponent(bot.bot_id);
    name.append(link);
    const state = el("td");
    state.append(stateChip(bot.state));
    state.dataset.col = "state";
    const position = el("td", positionText(bot.positions));
    position.dataset.col = "position";
    const pnl = signed(bot.pnl_today);
    pnl.dataset.col = "pnl";
    const beat = el("td", age(bot.heartbeat_age_seconds), "num");
    beat.dataset.col = "heartbeat";
    const drift = el("td", bot.drift.length ? bot.drift.join(", ") : "—", bot.drift.length ? "neg" : "empty");
    drift.dataset.col = "drift";
    tr.append(name, state, position, pnl, beat, drift);
    body.append(tr);
  }
  if (!bots.length) {
    const cell = el("td", "No bots registered.", "empty");
    cell.colSpan = 6;
    const tr = el("tr");
    tr.append(cell);
    body.append(tr);
  }
  $("kill-controls").hidden = !(me && me.role === "admin");
  $("fleet-updated").textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC"
    + (live ? " · live" : "");
  show("fleet");
}

async function renderBot(botId) {
  const id = encodeURIComponent(botId);
  const [{ bot }, { positions }, { days }, { fills }, equity, { round_trips }, { orders }, history] =
    await Promise.all([
      api(`/bots/${id}`),
      api(`/bots/${id}/positions`),
      api(`/bots/${id}/pnl/daily`),
      api(`/fills?bot=${id}&limit=50`),
      api(`/bots/${id}/equity`),
      api(`/bots/${id}/round-trips?limit=50`),
      api(`/bots/${id}/orders`),
      api(`/bots/${id}/history`),
    ]);
  $("bot-title").textContent = bot.bot_name + " (" + bot.bot_id + ")";
  const facts = $("bot-facts");
  facts.replaceChildren();
  const state = stateChip(bot.state);
  state.id = "bot-state";
  for (const [label, value] of [
    ["State", state], ["Registry status", bot.status], ["Type", bot.bot_type],
    ["Mode", bot.mode], ["Account", bot.account], ["Symbols", bot.symbols.join(", ")],
    ["Initial capital", bot.initial_capital === null ? "—" : bot.initial_capital],
    ["Heartbeat", age(bot.heartbeat_age_seconds)],
  ]) {
    const dd = el("dd");
    dd.append(value);
    facts.append(el("dt", label), dd);
  }
  const admin = me && me.role === "admin";
  $("controls").hidden = !admin;
  $("pause").disabled = bot.state === "paused";
  $("resume").disabled = bot.state !== "paused";
  $("controls").dataset.bot = bot.bot_id;
  drawEquity($("equity"), equity.points, equity.initial_capital);
  table($("positions"), [
    ["Symbol", "symbol"], ["Qty", "qty", true], ["Avg price", "avg_price", true],
    ["Realized", "realized_pnl", true, true], ["Fees", "fees", true], ["Fills", "fills", true],
  ], positions, "No fills yet.");
  table($("orders"), [
    ["Created (UTC)", "created"], ["Symbol", "symbol"], ["Side", "side"], ["Type", "order_type"],
    ["Status", "status"], ["Price", "price_text", true], ["Qty", "qty", true],
    ["Filled", "cum_exec_qty", true],
  ], orders.map((o) => ({
    ...o,
    created: (o.created_time || "").slice(0, 19).replace("T", " "),
    price_text: o.trigger_price ? "stop " + o.trigger_price : (o.price || "market"),
  })), "No open orders.");
  table($("trips"), [
    ["Exit (UTC)", "exit"], ["Symbol", "symbol"], ["Side", "side"], ["Qty", "qty", true],
    ["Entry", "avg_entry", true], ["Exit price", "avg_exit", true],
    ["Net", "net_pnl", true, true], ["Fees", "fees", true],
  ], round_trips.map((t) => ({ ...t, exit: (t.exit_time || "").slice(0, 19).replace("T", " ") })),
  "No closed round trips.");
  table($("daily"), [
    ["Day", "day"], ["Net", "net_pnl", true, true], ["Realized", "realized_pnl", true, true],
    ["Fees", "fees", true], ["Funding", "funding", true], ["Fills", "fills", true],
  ], days.slice().reverse(), "No P&L yet.");
  table($("fills"), [
    ["Time (UTC)", "exec_time"], ["Symbol", "symbol"], ["Side", "side"],
    ["Price", "exec_price", true], ["Qty", "exec_qty", true], ["Fee", "exec_fee", true],
  ], fills.map((f) => ({ ...f, exec_time: f.exec_time.slice(0, 19).replace("T", " ") })),
  "No fills yet.");
  $("config").textContent = JSON.stringify(history.current.config, null, 2);
  table($("history"), [
    ["Version", "version", true], ["Changed (UTC)", "changed"], ["By", "changed_by"],
    ["What", "what"],
  ], history.versions.slice().reverse().map((v) => ({
    ...v,
    changed: v.changed_at.slice(0, 19).replace("T", " "),
    what: Object.keys(v.changes).length
      ? Object.entries(v.changes).map(([k, c]) => k + ": " + short(c.from) + " → " + short(c.to)).join("; ")
      : "registered",
  })), "No history.");
  show("bot");
}

function short(value) {
  const text = JSON.stringify(value);
  return text.length > 80 ? text.slice(0, 79) + "…" : text;
}

async function route() {
  clearTimeout(timer);
  if (!sessionStorage.getItem(TOKEN_KEY)) { show("login"); return; }
  try {
    if (!me) {
      me = await api("/me");
      $("who").textContent = me.name + " · " + me.role;
      $("who").hidden = $("logout").hidden = false;
    }
    const match = location.hash.match(/^#\/bots\/(.+)$/);
    if (match) await renderBot(decodeURIComponent(match[1]));
    else if (location.hash === "#/accounts") await renderAccounts();
    else if (location.hash === "#/alerts") await renderAlerts();
    else if (location.hash === "#/audit") await renderAudit();
    else await renderFleet();
    timer = setTimeout(route, live ? LIVE_REFRESH_MS : REFRESH_MS);
    if (!stream) listen();
  } catch (err) {
    if (err.status === 401) { logout(err.message); return; }
    say(err.message, true);
  }
}

async function changeState(action) {
  const botId = $("controls").dataset.bot;
  for (const id of ["pause", "resume"]) $(id).disabled = true;
  try {
    const done = await api(`/bots/${encodeURIComponent(botId)}/${action}`, "POST");
    say(`${done.bot_id}: ${done.state}` + (done.changed.length ? "" : " (it already was)"));
  } catch (err) {
    say(`${action} ${botId}: ${err.message}`, true);
  }
  await route();
}

function showState(bot) {
  for (const tr of document.querySelectorAll("#fleet-table tbody tr[data-bot]")) {
    if (tr.dataset.bot !== bot.bot_id) continue;
    tr.querySelector('td[data-col="state"]').replaceChildren(stateChip(bot.state));
  }
  if (!$("bot").hidden && $("controls").dataset.bot === bot.bot_id && $("bot-state")) {
    const chip = stateChip(bot.state);
    chip.id = "bot-state";
    $("bot-state").replaceWith(chip);
    $("pause").disabled = bot.state === "paused";
    $("resume").disabled = bot.state !== "paused";
  }
}

function markLive(on) {
  live = on;
  const label = $("fleet-updated");
  label.textContent = label.textContent.replace(/ · live$/, "") + (on ? " · live" : "");
}

function onEvent(kind, data) {
  if (kind === "bot") showState(data);
  else if (kind === "fill") {
    clearTimeout(settle);
    settle = setTimeout(route, FILL_SETTLE_MS);
  } else if (kind === "alert") {
    say("Alert: " + (data.fields.text || data.fields.kind || data.id), true);
  }
}

function dispatch(block) { // one SSE event: "field: value" lines; ":" starts a comment
  const event = {};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    event[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "");
  }
  if (event.id) lastEventId = event.id;
  if (event.event && event.data) onEvent(event.event, JSON.parse(event.data));
}

// EventSource cannot send an Authorization header, so the stream is read with fetch.
async function listen() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return;
  const abort = new AbortController();
  stream = abort;
  const headers = { Authorization: "Bearer " + token };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  try {
    const response = await fetch(API + "/events", { headers, signal: abort.signal, cache: "no-store" });
    if (response.status === 401) { logout("unknown or revoked token"); return; }
    if (!response.ok || !response.body) throw new Error(response.statusText);
    markLive(true);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch (err) {
    if (abort.signal.aborted) return; // logged out: nothing to resume
  }
  markLive(false);
  if (stream === abort) {
    stream = null;
    setTimeout(() => { if (!stream) listen(); }, STREAM_RETRY_MS);
  }
}

function logout(why) {
  if (stream) stream.abort();
  stream = null;
  live = false;
  lastEventId = null;
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  $("who").hidden = $("logout").hidden = true;
  say(why || "", Boolean(why));
  show("login");
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    say("");
    route();
  });
  $("logout").addEventListener("click", () => logout());
  $("pause").addEventListener("click", () => changeState("pause"));
  $("resume").addEventListener("click", () => changeState("resume"));
  wirePages();
  window.addEventListener("hashchange", () => { say(""); cancelPending(); route(); });
  route();
});
