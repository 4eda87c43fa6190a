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
  header { padding: 12px 20px; display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline; border-bottom: 1px solid #2d333b; }
  header h1 { font-size: 18px; margin: 0; }
  header .dim { color: var(--dim); white-space: pre-line; }
  /* Six columns, three below 1100 px, one below 700: minmax(0, …) so no content can widen a column. */
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(6, minmax(0, 1fr)); }
  .half { grid-column: span 3; }
  .wide { grid-column: 1 / -1; }
  @media (max-width: 1099px) { main { grid-template-columns: repeat(3, minmax(0, 1fr)); } .half { grid-column: 1 / -1; } }
  @media (max-width: 699px) { main { grid-template-columns: minmax(0, 1fr); } .card { grid-column: 1 / -1; } }
  .card { background: var(--panel); border-radius: 6px; padding: 12px 14px; min-width: 0; overflow-wrap: break-word; }
  .card h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--dim); margin: 0 0 6px; }
  .big { font-size: 26px; font-variant-numeric: tabular-nums; }
  .dim { color: var(--dim); white-space: pre-line; }
  .chart { min-height: 200px; }
  .chart .note { color: var(--dim); padding: 8px 0; }
  .uplot { color: var(--text); }
  .u-legend { font-size: 12px; }
  table { width: 100%; border-collapse: collapse; }
  td, th { text-align: left; vertical-align: top; padding: 3px 6px; border-bottom: 1px solid #2d333b; font-variant-numeric: tabular-nums; }
  td.num { text-align: right; }
  .name { display: block; font-size: 12px; color: var(--dim); overflow-wrap: anywhere; }
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
  <div class="card wide"><h2>Records in and events written / s, recent history (UTC)</h2><div class="chart" id="chart-events"></div></div>
  <div class="card wide"><h2>Dead letters / s, recent history (UTC)</h2><div class="chart" id="chart-dlq"></div></div>
  <div class="card wide"><h2>Alerts</h2><table><thead><tr><th>alert</th><th>severity</th><th>state</th><th>since</th><th>detail</th></tr></thead><tbody id="alerts"></tbody></table></div>
  <div class="card wide"><h2>Event volume, last 24 h (events per hour of event time, from the warehouse; UTC)</h2><div class="chart" id="chart-volume"></div><div class="dim" id="volat"></div></div>
  <div class="card half"><h2>Last ETL run</h2><div class="big" id="etl">–</div><div class="dim" id="etlday"></div><div class="dim" id="etlat"></div><div class="dim" id="etlok"></div><div class="dim" id="etlwait"></div><div class="dim" id="etlsched"></div></div>
  <div class="card half"><h2>Totals (committed)</h2><table><tbody id="totals"></tbody></table></div>
  <div class="card wide"><h2>Data quality</h2><div class="dim" id="dqday"></div><table><thead><tr><th>check</th><th>result</th><th>value</th></tr></thead><tbody id="checks"></tbody></table></div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const fmt = (x) => (x === null || x === undefined ? "–" : nf.format(x));
/** Rates: whole numbers from 100 up, one decimal below. */
const rate = (x) => (x === null || x === undefined ? "–" : Math.abs(x) >= 100 ? nf0.format(x) : nf.format(x));
const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(x < 0.001 && x > 0 ? 3 : 2).replace(/\\.?0+$/, "") + "%");
/** An ISO time as "2026-11-27 14:35:00 UTC" (wraps at the space, unlike the ISO text). */
const when = (iso) => (iso ? iso.replace("T", " ").replace(/\\.\\d+Z$|Z$/, "") + " UTC" : "–");
const plural = (n, one, many) => nf0.format(n) + " " + (n === 1 ? one : many);
function dur(s) {
  if (s === null || s === undefined) return "–";
  if (s < 120) return nf.format(s) + " s";
  if (s < 7200) return nf.format(s / 60) + " min";
  return nf.format(s / 3600) + " h";
}
function cell(content, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  for (const c of [].concat(content)) td.append(c);
  return td;
}
function row(cells, cls) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => tr.appendChild(cell(c, cls && cls[i])));
  return tr;
}
function named(label, name) {
  const span = document.createElement("span"); span.className = "name"; span.textContent = name;
  return [label, span];
}

/** What each data-quality check measures, and how its value reads (docs/ETL.md has the rules). */
const CHECKS = {
  dlq_rate: ["dead letters, share of the day's records", "share"],
  has_data: ["level metrics rows of the day", "atLeast"],
  no_null_level_id: ["level metrics rows without a level id", "zero"],
  pass_rate_in_range: ["pass rates outside 0–1", "zero"],
  null_rate_country: ["events without a country", "share"],
  null_rate_device_category: ["events without a device category", "share"],
  revenue_matches_user_metrics: ["revenue: revenue_daily minus user_daily_metrics (USD)", "usd"],
  volume_vs_7d_mean: ["events, against the mean of the 7 days before", "mean"],
  volume_drop: ["events per type, against the same weekday of earlier weeks", "count"],
};
function checkLabel(name) {
  if (CHECKS[name]) return CHECKS[name];
  const drop = /^volume_drop_(.+)$/.exec(name);
  if (drop) return [drop[1].replace(/^type_/, "type ").replace(/_/g, " ") + " events, against the same weekday of earlier weeks", "drop"];
  return [name.replace(/_/g, " "), "count"];
}
function checkValue(kind, v, t) {
  if (v === null) return "";
  switch (kind) {
    case "share": return pct(v) + (t === null ? "" : " (limit " + pct(t) + ")");
    case "zero": return fmt(v) + " (must be 0)";
    case "atLeast": return fmt(v) + (t === null ? "" : " (at least " + fmt(t) + ")");
    case "usd": return v.toFixed(2) + " (must be 0.00)";
    case "mean": return fmt(v) + (t === null ? "" : " (mean " + nf0.format(t) + ")");
    case "drop": return fmt(v) + (t === null ? "" : " (warns below " + nf0.format(t) + ")");
    default: return fmt(v) + (t === null ? "" : " (threshold " + fmt(t) + ")");
  }
}

const pad = (n) => String(n).padStart(2, "0");
/** Tick steps of the time axes, in seconds: whole seconds at least, so no two labels read alike. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** Time axis labels in UTC, one line each, as long as the tick spacing needs. */
function timeLabels(u, splits, axisIdx, space, incr) {
  return splits.map((t) => {
    const d = new Date(t * 1000);
    const hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    if (incr >= 3600 && hm === "00:00") return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
    return incr >= 60 ? hm : hm + ":" + pad(d.getUTCSeconds());
  });
}
/** The y axis as wide as its longest label (measured), so no label is cut off at the left edge. */
function axisWidth(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let width = 0;
  if (values) {
    u.ctx.font = axis.font[0];
    for (const v of values) width = Math.max(width, u.ctx.measureText(String(v)).width / devicePixelRatio);
  }
  return Math.ceil(width + axis.ticks.size + axis.gap + 8);
}
const charts = {};
function chart(id, series, h, cols, empty) {
  const el = $(id);
  if (typeof uPlot !== "function") { el.textContent = "chart library (assets/uPlot.iife.min.js) did not load"; return; }
  const data = [h.t].concat(cols);
  const width = Math.max(200, el.clientWidth);
  let note = el.querySelector(".note");
  if (!note) { note = document.createElement("div"); note.className = "note"; el.appendChild(note); }
  note.textContent = h.t.length < 2 ? empty || "collecting samples…" : "";
  if (!charts[id]) {
    const axis = { stroke: "#8b97a3", grid: { stroke: "#2d333b", width: 1 }, ticks: { stroke: "#2d333b", width: 1 } };
    charts[id] = new uPlot({
      // Room on the right for half of the last time label, centred on the plot's right edge, and below for half
      // of the lowest y label when there is no time axis yet (no data).
      width, height: 180, padding: [8, 32, 8, 0],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      series: [{ value: (u, v) => (v === null ? "–" : when(new Date(v * 1000).toISOString())) }]
        .concat(series.map((s) => ({ label: s.label, stroke: s.color, width: s.width || 1.5, value: (u, v) => rate(v) }))),
      axes: [
        Object.assign({}, axis, { space: 80, incrs: TIME_STEPS, values: timeLabels }),
        Object.assign({}, axis, { size: axisWidth, values: (u, vs) => vs.map((v) => compact.format(v)) }),
      ],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.05)] } },
      cursor: { drag: { x: false, y: false } },
    }, data, el);
  } else {
    charts[id].setData(data);
    if (Math.abs(charts[id].width - width) > 1) charts[id].setSize({ width, height: 180 });
  }
}
function draw(s) {
  const h = s.history;
  // Records in and events written are nearly equal: records in is a wide band under the events' line, so both show.
  chart("chart-events", [
    { label: "records in / s", color: "#6e40c9", width: 6 },
    { label: "events written / s", color: "#79c0ff", width: 2 },
  ], h, [h.recordsInPerSec, h.eventsWrittenPerSec]);
  chart("chart-dlq", [{ label: "dead letters / s", color: "#f85149" }], h, [h.deadLettersPerSec]);
  const v = s.warehouse ? s.warehouse.volume24h : { t: [], events: [] };
  chart("chart-volume", [{ label: "events / hour", color: "#3fb950" }], v, [v.events], "no data from the warehouse yet");
}
let last = null;
window.addEventListener("resize", () => { if (last) draw(last); });
const TOTALS = {
  recordsIn: "records in", eventsWritten: "events written", deadLetters: "dead letters", duplicates: "duplicates dropped",
  lateEvents: "late events", windowRows: "1-minute window rows", commits: "warehouse commits",
};
function render(s) {
  $("meta").textContent = "v" + s.version + " · up " + dur(s.uptimeSeconds) + " · updated " + when(s.generatedAt);
  $("rin").textContent = rate(s.rates.recordsInPerSec);
  $("wout").textContent = rate(s.rates.eventsWrittenPerSec);
  $("dlq").textContent = rate(s.rates.deadLettersPerSec);
  $("dlqr").textContent = s.rates.dlqRatio === null ? "" : pct(s.rates.dlqRatio) + " of records in";
  $("lag").textContent = s.lag.total === null ? "n/a" : fmt(s.lag.total);
  const top = s.lag.top.filter((p) => p.lag > 0).slice(0, 3);
  $("lagtop").textContent = s.lag.total === null ? "not consuming from Kafka"
    : top.length === 0 ? "no partition behind" : "most behind:\\n" + top.map((p) => "partition " + p.partition + ": " + fmt(p.lag)).join("\\n");
  $("wm").textContent = dur(s.watermark.delaySeconds);
  $("wmat").textContent = s.watermark.engineWatermark ? "event time " + when(s.watermark.engineWatermark) : "no watermark yet";
  $("restarts").textContent = s.workers.fatal ? "FAILED (" + s.workers.fatal + ")" : plural(s.workers.restarts, "restart", "restarts");
  const mb = s.workers.mailboxDepth;
  const queued = mb.reduce((a, m) => a + m.batches, 0);
  $("mailbox").textContent = mb.length === 0 ? "" : mb.length <= 4
    ? "batches queued:\\n" + mb.map((m) => "worker " + m.worker + ": " + fmt(m.batches)).join("\\n")
    : "batches queued: " + fmt(queued) + " over " + mb.length + " workers,\\nmost " + fmt(Math.max(...mb.map((m) => m.batches)));
  const tb = $("alerts"); tb.replaceChildren();
  for (const a of s.alerts.rules) tb.appendChild(row([a.alert, a.severity, a.state, a.since ? when(a.since) : "", a.message], [null, a.severity === "warning" ? "warning" : null, a.state === "firing" ? "firing" : "ok"]));
  if (s.alerts.rules.length === 0) tb.appendChild(row(["alerts are not evaluated in this process"]));
  // The last run comes from the warehouse's etl_runs: this daemon's scheduler's runs and those of gamestream etl alike.
  const e = s.etl;
  const lr = e.lastRun;
  $("etl").textContent = lr ? lr.status : e.enabled ? "not run yet" : "no run recorded";
  $("etl").className = "big " + (lr && lr.status === "failed" ? "firing" : "");
  $("etlday").textContent = lr && lr.day ? "for day " + lr.day : "";
  $("etlat").textContent = lr ? (lr.status === "running" ? "started " : "ended ") + when(lr.at) + (lr.durationSeconds === null ? "" : ", took " + dur(lr.durationSeconds)) : "";
  $("etlok").textContent = lr ? "last success: " + (e.lastSuccessAt ? when(e.lastSuccessAt) : "never") : "";
  $("etlwait").textContent = e.waiting ? "waiting: " + e.waiting.day + " needs " + e.waiting.waitingFor.join("; ") : "";
  $("etlsched").textContent = e.enabled ? "" : "the daily scheduler does not run in this process";
  const w = s.warehouse;
  $("volat").textContent = w ? "read " + when(w.readAt) : "not read yet";
  const ct = $("checks"); ct.replaceChildren();
  $("dqday").textContent = w && w.checks ? "checks of " + w.checks.date : "no ETL checks yet";
  ct.parentElement.hidden = !(w && w.checks);
  if (w && w.checks) {
    for (const c of w.checks.items) {
      const [label, kind] = checkLabel(c.name);
      const cls = c.status === "failed" ? "firing" : c.status === "warning" ? "warning" : c.status === "passed" ? "ok" : null;
      ct.appendChild(row([named(label, c.name), c.status, checkValue(kind, c.value, c.threshold)], [null, cls, null]));
    }
  }
  const t = $("totals"); t.replaceChildren();
  for (const [k, v] of Object.entries(s.totals)) { const tr = row([TOTALS[k] || k, fmt(v)], [null, "num"]); tr.lastChild.id = "total-" + k; t.appendChild(tr); }
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
