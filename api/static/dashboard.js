// Alpha's dashboard: the fleet and each bot's page, read over /api/v1/ with a bearer
// token kept in this tab's sessionStorage. No framework, no build step. Every value from
// the API is put on the page with textContent (never innerHTML), and money is shown as
// the decimal string the API sends: it is never turned into a float.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "alpha.token";
const REFRESH_MS = 30000; // 1 + 2 requests per bot per refresh: far below the rate limit
const $ = (id) => document.getElementById(id);

let me = null; // {name, role} of the token
let timer = null;

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

function show(section) {
  for (const id of ["login", "fleet", "bot"]) $(id).hidden = id !== section;
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

async function renderFleet() {
  const { bots } = await api("/bots");
  const day = todayUtc();
  const details = await Promise.all(bots.map((bot) => {
    const id = encodeURIComponent(bot.bot_id);
    return Promise.all([
      api(`/bots/${id}/positions`),
      api(`/bots/${id}/pnl/daily?from=${day}&to=${day}`),
    ]);
  }));
  const body = $("fleet-table").tBodies[0];
  body.replaceChildren();
  bots.forEach((bot, i) => {
    const [{ positions }, { days }] = details[i];
    const tr = el("tr");
    tr.dataset.bot = bot.bot_id;
    const name = el("td");
    const link = el("a", bot.bot_id);
    link.href = "#/bots/" + encodeURIComponent(bot.bot_id);
    name.append(link);
    const state = el("td");
    state.append(stateChip(bot.state));
    state.dataset.col = "state";
    const position = el("td", positionText(positions));
    position.dataset.col = "position";
    const pnl = signed(days.length ? days[0].net_pnl : null);
    pnl.dataset.col = "pnl";
    const beat = el("td", age(bot.heartbeat_age_seconds), "num");
    beat.dataset.col = "heartbeat";
    tr.append(name, state, position, pnl, beat);
    body.append(tr);
  });
  if (!bots.length) {
    const cell = el("td", "No bots registered.", "empty");
    cell.colSpan = 5;
    const tr = el("tr");
    tr.append(cell);
    body.append(tr);
  }
  $("fleet-updated").textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC";
  show("fleet");
}

async function renderBot(botId) {
  const id = encodeURIComponent(botId);
  const [{ bot }, { positions }, { days }, { fills }] = await Promise.all([
    api(`/bots/${id}`),
    api(`/bots/${id}/positions`),
    api(`/bots/${id}/pnl/daily`),
    api(`/fills?bot=${id}&limit=50`),
  ]);
  $("bot-title").textContent = bot.bot_name + " (" + bot.bot_id + ")";
  const facts = $("bot-facts");
  facts.replaceChildren();
  const state = stateChip(bot.state);
  state.id = "bot-state";
  for (const [label, value] of [
    ["State", state], ["Registry status", bot.status], ["Type", bot.bot_type],
    ["Mode", bot.mode], ["Account", bot.account], ["Symbols", bot.symbols.join(", ")],
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
  table($("positions"), [
    ["Symbol", "symbol"], ["Qty", "qty", true], ["Avg price", "avg_price", true],
    ["Realized", "realized_pnl", true, true], ["Fees", "fees", true], ["Fills", "fills", true],
  ], positions, "No fills yet.");
  table($("daily"), [
    ["Day", "day"], ["Net", "net_pnl", true, true], ["Realized", "realized_pnl", true, true],
    ["Fees", "fees", true], ["Funding", "funding", true], ["Fills", "fills", true],
  ], days.slice().reverse(), "No P&L yet.");
  table($("fills"), [
    ["Time (UTC)", "exec_time"], ["Symbol", "symbol"], ["Side", "side"],
    ["Price", "exec_price", true], ["Qty", "exec_qty", true], ["Fee", "exec_fee", true],
  ], fills.map((f) => ({ ...f, exec_time: f.exec_time.slice(0, 19).replace("T", " ") })),
  "No fills yet.");
  show("bot");
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
    else await renderFleet();
    timer = setTimeout(route, REFRESH_MS);
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

function logout(why) {
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
  window.addEventListener("hashchange", () => { say(""); route(); });
  route();
});
