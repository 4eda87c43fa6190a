/**
 * The status page: one HTML document with inline CSS and JS whose only other resources are uPlot's script and
 * stylesheet, served by this same server from node_modules (see STATUS_PAGE_ASSETS in server.ts): no fonts or
 * scripts from elsewhere, so it works on a host without internet. All URLs are relative (assets/…, api/status),
 * so it also works behind a path-prefixing proxy. It polls api/status every two seconds. Text goes in through
 * textContent only: alert messages are not HTML. If uPlot did not load, the numbers still show and the chart
 * cards say so.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gamestream status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/uPlot.min.css">
<script src="assets/uPlot.iife.min.js"></script>
<style>
  :root { --bg: #0f1419; --panel: #1a2129; --text: #e6e6e6; --dim: #8b97a3; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --line: #58a6ff; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { padding: 12px 20px; display: flex; gap: 16px; align-items: baseline; border-bottom: 1px solid #2d333b; }
  header h1 { font-size: 18px; margin: 0; }
  header .dim { color: var(--dim); }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); }
  .card { background: var(--panel); border-radius: 6px; padding: 12px 14px; }
  .card h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--dim); margin: 0 0 6px; }
  .big { font-size: 26px; font-variant-numeric: tabular-nums; }
  .wide { grid-column: 1 / -1; }
  .chart { min-height: 200px; }
  .chart .note { color: var(--dim); padding: 8px 0; }
  .uplot { color: var(--text); }
  .u-legend { font-size: 12px; }
  table { width: 100%; border-collapse: collapse; }
  td, th { text-align: left; padding: 3px 6px; border-bottom: 1px solid #2d333b; font-variant-numeric: tabular-nums; }
  .firing { color: var(--bad); font-weight: 600; } .ok { color: var(--ok); } .warning { color: var(--warn); }
  #err { color: var(--bad); }
</style>
</head>
<body>
<header><h1>gamestream</h1><span class="dim" id="meta">loading…</span><span id="err"></span></header>
<main>
  <div class="card"><h2>Records in / s</h2><div class="big" id="rin">–</div></div>
  <div class="card"><h2>Events written / s</h2><div class="big" id="wout">–</div></div>
  <div class="card"><h2>Dead letters / s</h2><div class="big" id="dlq">–</div><div class="dim" id="dlqr"></div></div>
  <div class="card"><h2>Consumer lag</h2><div class="big" id="lag">–</div><div class="dim" id="lagtop"></div></div>
  <div class="card"><h2>Watermark delay</h2><div class="big" id="wm">–</div><div class="dim" id="wmat"></div></div>
  <div class="card"><h2>Workers</h2><div class="big" id="restarts">–</div><div class="dim" id="mailbox"></div></div>
  <div class="card wide"><h2>Events / s (recent history)</h2><div class="chart" id="chart-events"></div></div>
  <div class="card wide"><h2>Dead letters / s (recent history)</h2><div class="chart" id="chart-dlq"></div></div>
  <div class="card wide"><h2>Alerts</h2><table><thead><tr><th>alert</th><th>severity</th><th>state</th><th>since</th><th>detail</th></tr></thead><tbody id="alerts"></tbody></table></div>
  <div class="card wide"><h2>Event volume, last 24 h (events per hour of event time, from the warehouse)</h2><div class="chart" id="chart-volume"></div><div class="dim" id="volat"></div></div>
  <div class="card"><h2>Last ETL run</h2><div class="big" id="etl">–</div><div class="dim" id="etlat"></div><div class="dim" id="etlwait"></div><div class="dim" id="etlsched"></div></div>
  <div class="card"><h2>Data quality</h2><div class="dim" id="dqday"></div><table><tbody id="checks"></tbody></table></div>
  <div class="card"><h2>Totals (committed)</h2><table><tbody id="totals"></tbody></table></div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const fmt = (x) => (x === null || x === undefined ? "–" : nf.format(x));
function dur(s) {
  if (s === null || s === undefined) return "–";
  if (s < 120) return nf.format(s) + " s";
  if (s < 7200) return nf.format(s / 60) + " min";
  return nf.format(s / 3600) + " h";
}
function row(cells, cls) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (cls && cls[i]) td.className = cls[i]; tr.appendChild(td); });
  return tr;
}
const charts = {};
function chart(id, series, h, cols) {
  const el = $(id);
  if (typeof uPlot !== "function") { el.textContent = "chart library (assets/uPlot.iife.min.js) did not load"; return; }
  const data = [h.t].concat(cols);
  const width = Math.max(200, el.clientWidth);
  let note = el.querySelector(".note");
  if (!note) { note = document.createElement("div"); note.className = "note"; el.appendChild(note); }
  note.textContent = h.t.length < 2 ? "collecting samples…" : "";
  if (!charts[id]) {
    const axis = { stroke: "#8b97a3", grid: { stroke: "#2d333b", width: 1 }, ticks: { stroke: "#2d333b", width: 1 } };
    charts[id] = new uPlot({
      width, height: 180,
      series: [{}].concat(series.map(([label, color]) => ({ label, stroke: color, width: 1.5, value: (u, v) => fmt(v) }))),
      axes: [axis, Object.assign({}, axis, { size: 60, values: (u, vs) => vs.map(fmt) })],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      cursor: { drag: { x: false, y: false } },
    }, data, el);
  } else {
    charts[id].setData(data);
    if (Math.abs(charts[id].width - width) > 1) charts[id].setSize({ width, height: 180 });
  }
}
function draw(s) {
  const h = s.history;
  chart("chart-events", [["records in / s", "#8b97a3"], ["events written / s", "#58a6ff"]], h, [h.recordsInPerSec, h.eventsWrittenPerSec]);
  chart("chart-dlq", [["dead letters / s", "#f85149"]], h, [h.deadLettersPerSec]);
  const v = s.warehouse ? s.warehouse.volume24h : { t: [], events: [] };
  chart("chart-volume", [["events / hour", "#3fb950"]], v, [v.events]);
}
let last = null;
window.addEventListener("resize", () => { if (last) draw(last); });
function render(s) {
  $("meta").textContent = "v" + s.version + " · up " + dur(s.uptimeSeconds) + " · " + s.generatedAt;
  $("rin").textContent = fmt(s.rates.recordsInPerSec);
  $("wout").textContent = fmt(s.rates.eventsWrittenPerSec);
  $("dlq").textContent = fmt(s.rates.deadLettersPerSec);
  $("dlqr").textContent = s.rates.dlqRatio === null ? "" : (s.rates.dlqRatio * 100).toFixed(2) + "% of records";
  $("lag").textContent = s.lag.total === null ? "n/a" : fmt(s.lag.total);
  $("lagtop").textContent = s.lag.top.slice(0, 3).map((p) => "p" + p.partition + ": " + fmt(p.lag)).join("  ");
  $("wm").textContent = dur(s.watermark.delaySeconds);
  $("wmat").textContent = s.watermark.engineWatermark || "no watermark yet";
  $("restarts").textContent = s.workers.fatal ? "FAILED (" + s.workers.fatal + ")" : s.workers.restarts + " restart(s)";
  $("mailbox").textContent = "mailboxes: " + s.workers.mailboxDepth.map((m) => m.batches).join(" ");
  const tb = $("alerts"); tb.replaceChildren();
  for (const a of s.alerts.rules) tb.appendChild(row([a.alert, a.severity, a.state, a.since || "", a.message], [null, a.severity === "warning" ? "warning" : null, a.state === "firing" ? "firing" : "ok"]));
  if (s.alerts.rules.length === 0) tb.appendChild(row(["alerts are not evaluated in this process"]));
  const e = s.etl;
  // The last run comes from the warehouse's etl_runs: this daemon's scheduler's runs and those of gamestream etl alike.
  const lr = e.lastRun;
  $("etl").textContent = lr ? lr.status : e.enabled ? "not run yet" : "no run recorded";
  $("etl").className = "big " + (lr && lr.status === "failed" ? "firing" : "");
  $("etlat").textContent = lr ? (lr.day ? "day " + lr.day + ", " : "") + (lr.status === "running" ? "started " : "ended ") + lr.at
    + (lr.durationSeconds === null ? "" : " (took " + dur(lr.durationSeconds) + ")") + "; last success " + (e.lastSuccessAt || "never") : "";
  $("etlsched").textContent = e.enabled ? "" : "the daily scheduler does not run in this process";
  $("etlwait").textContent = e.waiting ? "waiting: " + e.waiting.day + " needs " + e.waiting.waitingFor.join("; ") : "";
  const w = s.warehouse;
  $("volat").textContent = w ? "read " + w.readAt : "not read yet";
  const ct = $("checks"); ct.replaceChildren();
  $("dqday").textContent = w && w.checks ? "checks of " + w.checks.date : "no ETL checks yet";
  if (w && w.checks) for (const c of w.checks.items) ct.appendChild(row([c.name, c.status, c.value === null ? "" : fmt(c.value)], [null, c.status === "failed" ? "firing" : c.status === "warning" ? "warning" : c.status === "passed" ? "ok" : null]));
  const t = $("totals"); t.replaceChildren();
  for (const [k, v] of Object.entries(s.totals)) { const tr = row([k, fmt(v)]); tr.lastChild.id = "total-" + k; t.appendChild(tr); }
  last = s;
  draw(s);
  document.body.dataset.generatedAt = s.generatedAt;
}
async function poll() {
  try {
    const r = await fetch("api/status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json()); $("err").textContent = "";
  } catch (err) { $("err").textContent = "cannot reach the daemon: " + err.message; }
}
poll(); setInterval(poll, 2000);
</script>
</body>
</html>
`;
