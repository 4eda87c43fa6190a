/**
 * The status page: one self-contained HTML document (inline CSS and JS, a small canvas chart, no fonts or
 * scripts from elsewhere), so it works on a host without internet. It polls api/status (relative, so it also
 * works behind a path-prefixing proxy) every two seconds. Text goes in through textContent only: alert messages
 * are not HTML.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gamestream status</title>
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
  canvas { width: 100%; height: 180px; display: block; }
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
  <div class="card wide"><h2>Recent history (records in / s, dead letters / s)</h2><canvas id="chart"></canvas></div>
  <div class="card wide"><h2>Alerts</h2><table><thead><tr><th>alert</th><th>severity</th><th>state</th><th>since</th><th>detail</th></tr></thead><tbody id="alerts"></tbody></table></div>
  <div class="card"><h2>Last ETL run</h2><div class="big" id="etl">–</div><div class="dim" id="etlat"></div></div>
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
function draw(h) {
  const c = $("chart"), dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, ht = c.clientHeight;
  c.width = w * dpr; c.height = ht * dpr;
  const g = c.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, ht);
  const n = h.t.length; if (n < 2) { g.fillStyle = "#8b97a3"; g.fillText("collecting samples…", 10, 20); return; }
  const max = Math.max(1, ...h.recordsInPerSec, ...h.deadLettersPerSec);
  const pad = 40, x = (i) => pad + (i / (n - 1)) * (w - pad - 8), y = (v) => ht - 18 - (v / max) * (ht - 30);
  g.strokeStyle = "#2d333b"; g.fillStyle = "#8b97a3"; g.font = "11px system-ui";
  for (const f of [0, 0.5, 1]) { g.beginPath(); g.moveTo(pad, y(max * f)); g.lineTo(w - 8, y(max * f)); g.stroke(); g.fillText(nf.format(max * f), 2, y(max * f) + 4); }
  const span = h.t[n - 1] - h.t[0];
  g.fillText("-" + dur(span), pad, ht - 4); g.fillText("now", w - 30, ht - 4);
  for (const [series, color] of [[h.recordsInPerSec, "#58a6ff"], [h.deadLettersPerSec, "#f85149"]]) {
    g.strokeStyle = color; g.lineWidth = 1.5; g.beginPath();
    series.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v)))); g.stroke();
  }
}
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
  $("etl").textContent = !e.enabled ? "not enabled" : e.lastRun ? e.lastRun.status : "not run yet";
  $("etl").className = "big " + (e.lastRun && e.lastRun.status === "failed" ? "firing" : "");
  $("etlat").textContent = e.lastRun ? e.lastRun.at + " (" + dur(e.lastRun.durationSeconds) + "); last success " + (e.lastSuccessAt || "never") : "";
  const t = $("totals"); t.replaceChildren();
  for (const [k, v] of Object.entries(s.totals)) t.appendChild(row([k, fmt(v)]));
  draw(s.history);
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
