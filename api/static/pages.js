// The account view, the alerts and the audit pages, and the confirmation step of the
// dangerous actions (flatten, kill, lift). Uses the helpers of dashboard.js (api, el,
// table, say, show), which are defined by the time any of these runs.
"use strict";

function when(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : "—"; }

async function renderAccounts() {
  const admin = me && me.role === "admin";
  const [{ positions }, { drift }, { backups }] = await Promise.all([
    api("/accounts"), api("/drift"), api("/backups?limit=10"),
  ]);
  table($("accounts-table"), [
    ["Account", "account"], ["Symbol", "symbol"], ["Bots", "bots_text"],
    ["Σ bots", "bots_qty", true], ["External", "external_qty", true],
    ["Exchange", "exchange_text", true], ["Checked (UTC)", "status_text"],
  ], positions.map((p) => ({
    ...p,
    bots_text: p.bots.map((b) => b.bot_id + " " + b.qty).join(", ") || "—",
    // Trade sync stores the exchange's quantity only when it disagrees.
    exchange_text: p.drift ? p.exchange_qty : "= ledger",
    status_text: p.drift ? "DRIFT since " + when(p.drift_since) : when(p.checked_at),
  })), "No open positions.");
  for (const tr of $("accounts-table").tBodies[0].rows) {
    const row = positions[tr.sectionRowIndex];
    if (row && row.drift) tr.className = "drift";
  }
  table($("drift-table"), [
    ["Account", "account"], ["Symbol", "symbol"], ["Exchange", "exchange_qty", true],
    ["Ledger", "ledger_qty", true], ["Difference", "difference", true, true],
    ["Since (UTC)", "since"],
  ], drift.map((d) => ({ ...d, since: when(d.detected_at) })), "No open drift.");
  table($("backups-table"), [
    ["Date", "backup_date"], ["Kind", "kind"], ["Status", "status"], ["Verified", "verified_text"],
    ["Size", "size", true], ["Error", "error"],
  ], backups.map((b) => ({
    ...b,
    verified_text: b.verified ? "yes, " + when(b.verified_at) : "no",
    size: b.size_bytes === null ? "—" : b.size_bytes.toLocaleString("en"),
  })), "No backup recorded yet.");
  $("backup-controls").hidden = !admin;
  show("accounts");
}

async function backupNow() {
  try {
    const done = await api("/backups", "POST");
    say("Backup requested (" + done.request_id + ").");
  } catch (err) {
    say("backup: " + err.message, true);
  }
}

let alertsBefore = null;
async function renderAlerts(more = false) {
  const query = "/alerts?limit=50" + (more && alertsBefore ? "&before=" + encodeURIComponent(alertsBefore) : "");
  const { alerts, next_before } = await api(query);
  const rows = alerts.map((a) => ({
    time: when(new Date(Number(a.id.split("-")[0])).toISOString()),
    severity: a.fields.severity || "",
    kind: a.fields.kind || "",
    text: a.fields.text || JSON.stringify(a.fields),
  }));
  appendRows($("alerts-table"), [
    ["Time (UTC)", "time"], ["Severity", "severity"], ["Kind", "kind"], ["Text", "text"],
  ], rows, more, "No alerts.");
  alertsBefore = next_before;
  $("alerts-more").hidden = !next_before;
  show("alerts");
}

let auditCursor = null;
async function renderAudit(more = false) {
  const query = "/audit?limit=50" + (more && auditCursor ? "&cursor=" + encodeURIComponent(auditCursor) : "");
  const { entries, next_cursor } = await api(query);
  const rows = entries.map((e) => ({
    ...e,
    time: when(e.created_at),
    who: e.username || (e.user_id === null ? "" : String(e.user_id)),
    bot: e.bot_id || "",
    detail: e.detail || "",
  }));
  appendRows($("audit-table"), [
    ["Time (UTC)", "time"], ["Channel", "channel"], ["Who", "who"], ["Command", "command"],
    ["Bot", "bot"], ["Outcome", "outcome"], ["Detail", "detail"],
  ], rows, more, "Nothing audited yet.");
  auditCursor = next_cursor;
  $("audit-more").hidden = !next_cursor;
  show("audit");
}

// "Older" appends a page below the rows already shown.
function appendRows(node, columns, rows, more, emptyText) {
  if (!more) { table(node, columns, rows, emptyText); return; }
  const scratch = document.createElement("table");
  table(scratch, columns, rows, emptyText);
  if (rows.length) node.tBodies[0].append(...scratch.tBodies[0].rows);
}

// --- the confirmation step -----------------------------------------------------------
// Asking (POST) returns 202 with a confirmation id; nothing happens until the same
// token POSTs /confirm/{id} within the minute. The box says exactly what will happen.
let pending = null;

const DESCRIBE = {
  flatten: (c) => `Flatten ${c.bot_id}: close all of its positions at market.`,
  kill: () => "Kill switch: set the kill flag, pause every bot and flatten every bot.",
  unkill: () => "Lift the kill switch (bots stay paused until resumed).",
};

async function ask(path, what) {
  try {
    const asked = await api(path, "POST");
    pending = asked;
    $("confirm-text").textContent = DESCRIBE[asked.action](asked);
    $("confirm-expiry").textContent = "Confirm before " + when(asked.expires_at) + " UTC; until then nothing is done.";
    $("confirm-box").hidden = false;
    $("confirm-yes").focus();
  } catch (err) {
    say(what + ": " + err.message, true);
  }
}

async function confirmPending() {
  if (!pending) return;
  const asked = pending;
  pending = null;
  $("confirm-box").hidden = true;
  try {
    const done = await api(asked.confirm.replace(API, ""), "POST");
    say(done.detail);
  } catch (err) {
    say(asked.action + ": " + err.message, true);
  }
  await route();
}

function cancelPending() {
  // The id simply lapses (the API audits it "expired"); nothing was done.
  if (pending) say("Cancelled: nothing was done.");
  pending = null;
  $("confirm-box").hidden = true;
}

function wirePages() {
  $("backup-now").addEventListener("click", backupNow);
  $("alerts-more").addEventListener("click", () => renderAlerts(true).catch((e) => say(e.message, true)));
  $("audit-more").addEventListener("click", () => renderAudit(true).catch((e) => say(e.message, true)));
  $("flatten").addEventListener("click", () => {
    const bot = $("controls").dataset.bot;
    ask(`/bots/${encodeURIComponent(bot)}/flatten`, "flatten " + bot);
  });
  $("kill").addEventListener("click", () => ask("/kill", "kill"));
  $("lift").addEventListener("click", () => ask("/kill/lift", "lift"));
  $("confirm-yes").addEventListener("click", confirmPending);
  $("confirm-no").addEventListener("click", cancelPending);
}
