// The Swarm cockpit's page: polls /api/state each second, draws the tables and charts,
// sends the operator's controls to /api/control (the token in the X-Swarm-Token header).
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const POLL_MS = 1000;
let equityChart = null;
let weightsChart = null;
let lastState = null;

const $ = (id) => document.getElementById(id);

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function time(ns) {
  if (!ns) return "-";
  return new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function table(el, headers, rows, rowClass) {
  const head = "<tr>" + headers.map((h) => `<th>${esc(h)}</th>`).join("") + "</tr>";
  const body = rows.map((r, i) =>
    `<tr class="${rowClass ? rowClass(i) : ""}">` + r.map((c) => `<td>${c}</td>`).join("") + "</tr>");
  el.innerHTML = head + body.join("");
}

function kv(obj) {
  return Object.entries(obj || {}).map(([k, v]) => `${esc(k)} ${esc(v)}`).join("<br>");
}

function say(text, ok) {
  const el = $("message");
  el.textContent = text;
  el.className = ok ? "ok" : "error";
}

async function control(action, agent, reason) {
  const answer = await fetch("/api/control", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Swarm-Token": TOKEN },
    body: JSON.stringify({ action, agent, reason }),
  });
  const body = await answer.json().catch(() => ({ error: `HTTP ${answer.status}` }));
  if (answer.ok) {
    say(`${action}${agent ? " " + agent : ""}: done (${body.status || body.after || "ok"})`, true);
  } else {
    say(`${action}${agent ? " " + agent : ""} failed: ${body.error}`, false);
  }
  await refresh();
}

function chart(el, existing, title, series, data) {
  const width = Math.max(320, el.clientWidth || 600);
  if (existing && existing.series.length === series.length + 1) {
    existing.setData(data);
    return existing;
  }
  if (existing) existing.destroy();
  const opts = {
    title, width, height: 240,
    series: [{}, ...series.map((name, i) => ({
      label: name, stroke: ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f"][i % 6],
    }))],
  };
  return new uPlot(opts, data, el);
}

function drawOverview(s) {
  $("mode").textContent = s.mode;
  const state = s.breaker ? s.breaker.state : "?";
  $("breaker").textContent = "breaker " + state;
  $("breaker").className = "badge b-" + state;
  $("breaker-state").textContent = state;
  $("breaker-since").textContent = s.breaker ? time(s.breaker.since_ns) : "-";
  $("pnl").textContent = s.pnl !== undefined ? `P&L ${Number(s.pnl).toFixed(2)}` : "";
  $("updated").textContent = "updated " + time(s.at_ns);
  $("breaker-history").innerHTML = (s.breaker_history || [])
    .map((e) => `<li>${esc(time(e.at_ns))} ${esc(e.message)}</li>`).join("") || "<li>no transition seen</li>";
  const g = s.gateway || {};
  table($("gateway"), ["", ""], [
    ["WAL records", esc(g.wal_records)], ["orders tracked", esc(g.orders)],
    ["unknown outcomes", esc(g.unknown_outcomes)], ["submit latency", esc(g.latency)],
    ["state dir", esc(g.state_dir)],
  ]);
  const now = s.at_ns || 0;
  const beats = Object.entries(s.heartbeats || {});
  table($("heartbeats"), ["actor", "last answer", "age (s)", "error"],
    beats.map(([actor, b]) => [esc(actor), esc(time(b.last_ok_ns)),
      b.last_ok_ns ? ((now - b.last_ok_ns) / 1e9).toFixed(1) : "-", esc(b.error || "")]),
    (i) => (beats[i][1].error ? "stale" : ""));
  const eq = s.equity || { t: [], total: [], agents: {} };
  const names = Object.keys(eq.agents);
  equityChart = chart($("equity-chart"), equityChart, "equity", ["total", ...names],
    [eq.t, eq.total, ...names.map((n) => eq.agents[n])]);
}

function drawAgents(s) {
  const rows = (s.agents || []).map((a) => [
    `<span data-agent="${esc(a.agent)}">${esc(a.agent)}</span>`,
    `<span class="status" data-agent-status="${esc(a.agent)}">${esc(a.status)}</span>`,
    a.weight === null ? "-" : a.weight.toFixed(3),
    esc(Number(a.budget).toFixed(0)), esc(Number(a.pnl).toFixed(2)),
    esc(Number(a.drawdown).toFixed(2)), esc(a.orders ?? "-"),
    esc(a.denied ?? "-") + (a.last_denial ? `<br><span class="muted">${esc(a.last_denial)}</span>` : ""),
    esc(a.errors ?? "-"), esc(a.idle_reason || ""),
    `<button data-action="pause" data-target="${esc(a.agent)}">Pause</button>
     <button data-action="resume" data-target="${esc(a.agent)}">Resume</button>
     <button data-action="flatten" data-target="${esc(a.agent)}" class="danger">Flatten</button>`,
  ]);
  table($("agents"), ["agent", "status", "weight", "budget", "P&L", "drawdown", "orders",
    "denied", "errors", "idle reason", "controls"], rows);
  const select = $("f-agent");
  const known = new Set([...select.options].map((o) => o.value));
  for (const a of s.agents || []) {
    if (!known.has(a.agent)) select.add(new Option(a.agent, a.agent));
  }
}

function drawOrders(s) {
  const orders = s.orders || [];
  $("unknown-count").textContent = `${s.unknown_orders || 0} with an unknown outcome`;
  table($("orders"), ["updated", "agent", "intent", "venue", "symbol", "side", "type", "amount",
    "price", "state", "filled", "avg price", "trades", "reason"],
    orders.map((o) => [esc(time(o.updated_ns)), esc(o.agent), esc(o.intent), esc(o.venue),
      esc(o.symbol), esc(o.side), esc(o.type) + (o.reduce_only ? " (reduce-only)" : ""),
      esc(o.amount), esc(o.price ?? "-"), esc(o.state), esc(o.filled), esc(o.average_price ?? "-"),
      esc(o.trades), esc(o.reason)]),
    (i) => (orders[i].unknown ? "unknown" : ""));
}

function drawPositions(s) {
  table($("venues"), ["venue", "reconciled", "balances", "positions"],
    (s.venues || []).map((v) => [esc(v.venue), v.reconciled ? "yes" : "<b class='critical'>no</b>",
      kv(v.balances), kv(v.positions)]));
  table($("positions"), ["agent", "venue", "symbol", "contracts", "entry", "mark", "unrealized"],
    (s.positions || []).map((p) => [esc(p.agent), esc(p.venue), esc(p.symbol), esc(p.contracts),
      esc(p.entry_price ?? "-"), esc(p.mark ?? "-"), esc(p.unrealized)]));
}

function drawCouncil(s) {
  const decisions = (s.council || []).slice().reverse();
  const names = [...new Set(decisions.flatMap((d) => Object.keys(d.weights)))].sort();
  const withWeights = decisions.filter((d) => Object.keys(d.weights).length);
  weightsChart = chart($("weights-chart"), weightsChart, "weights", names,
    [withWeights.map((d) => d.ts_ns / 1e9), ...names.map((n) => withWeights.map((d) => d.weights[n] ?? null))]);
  const controls = (s.controls || []).map((c) => [esc(time(c.ts_ns)), "operator",
    esc(`${c.operator}: ${c.action} ${c.agent}`), esc(c.reason || "")]);
  const votes = (s.council || []).map((d) => [esc(time(d.ts_ns)), esc(d.reason || "-"),
    kv(Object.fromEntries(Object.entries(d.weights).map(([k, v]) => [k, v.toFixed(3)]))),
    d.votes.map((v) => `${esc(v.agent)} ${esc(v.kind)}: ${esc(v.reason)}`).join("<br>")]);
  table($("council"), ["time", "reason", "weights", "votes"], [...controls, ...votes]);
}

function drawEvents(s) {
  const events = s.events || [];
  table($("events"), ["time", "kind", "subject", "message"],
    events.map((e) => [esc(time(e.at_ns)), esc(e.kind) + (e.alert ? " (alert)" : ""),
      esc(e.subject), `<span class="${esc(e.level)}">${esc(e.message)}</span>`]));
}

function drawReports(s) {
  const reports = s.reports || [];
  $("reports").innerHTML = reports.length
    ? reports.map((r) => `<p><a href="/reports/${esc(r)}" target="_blank">latest ${esc(r)} report</a></p>`).join("")
    : "<p>No backtest or sweep report under state.dir yet (main.py backtest, main.py sweep).</p>";
}

async function refresh() {
  const params = new URLSearchParams({
    agent: $("f-agent").value, state: $("f-state").value,
    unknown: $("f-unknown").checked, filled: $("f-filled").checked,
  });
  let answer;
  try {
    answer = await fetch("/api/state?" + params, { headers: { "X-Swarm-Token": TOKEN } });
  } catch (err) {
    $("updated").textContent = "the run does not answer (stopped?)";
    return;
  }
  if (!answer.ok) {
    $("updated").textContent = `HTTP ${answer.status}`;
    return;
  }
  const s = await answer.json();
  lastState = s;
  document.body.dataset.readings = s.readings;
  drawOverview(s); drawAgents(s); drawOrders(s); drawPositions(s); drawCouncil(s);
  drawEvents(s); drawReports(s);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.tab) {
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b === button));
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.id === "tab-" + button.dataset.tab));
    if (lastState) { drawOverview(lastState); drawCouncil(lastState); }
  } else if (button.dataset.action) {
    control(button.dataset.action, button.dataset.target, $("agent-reason").value);
  } else if (button.id === "kill" || button.id === "reset") {
    control(button.id, null, $("breaker-reason").value);
  }
});
["f-agent", "f-state", "f-unknown", "f-filled"].forEach((id) => $(id).addEventListener("change", refresh));

refresh();
setInterval(refresh, POLL_MS);
