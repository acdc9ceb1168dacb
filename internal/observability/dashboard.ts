/**
 * GET /dashboard on the admin port: one self-contained HTML page (inline CSS and JS, no external
 * resource, no build step) that polls `stats` (the /stats document, see snapshot.ts) every second
 * and draws the live view: header, number tiles, 5-minute charts on <canvas>, per-platform bars,
 * upstream health, status-events / push-stream state and the cluster instances.
 *
 * The page is built once at module load. Its inline <style> and <script> are allowed by a strict
 * Content-Security-Policy through their SHA-256 hashes (no 'unsafe-inline'); the script touches
 * styles only through the CSSOM, builds the DOM with textContent (never innerHTML) and fetches
 * only `stats` on its own origin.
 *
 * Test hooks: every number tile has `data-stat` (connections, users, messagesIn, messagesOut,
 * pushes, kicks) and its value element the id `stat-<name>` (`stat-<name>-total` for the totals
 * under the rates); platform rows carry `data-platform` and a `[data-count]` element; <body> gets
 * `data-state` (loading | live | error) and `data-polls` (successful polls so far).
 */
import { createHash } from 'node:crypto';
import type { AdminHandler, AdminResponse } from './admin';

const CSS = String.raw`
:root {
  --bg: #0b1016; --panel: #111821; --panel-2: #0e141c; --border: #1d2733; --border-2: #263241;
  --text: #e6ebf2; --muted: #8b98a9; --faint: #5b6778; --grid: #1b2430;
  --ok: #34d399; --warn: #fbbf24; --bad: #f87171; --off: #64748b;
  --c-conn: #4da3ff; --c-users: #a78bfa; --c-in: #34d399; --c-out: #22d3ee; --c-push: #fbbf24; --c-kick: #f472b6;
  --font: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 var(--font); }
body { padding: 20px 24px 16px; min-width: 360px; }
h1, h2, h3 { margin: 0; font-weight: 600; }
.num, td.n, .kv .v, .tile .value { font-variant-numeric: tabular-nums; }

/* header */
.top { display: flex; align-items: center; justify-content: space-between; gap: 16px; flex-wrap: wrap;
  padding: 14px 18px; background: var(--panel); border: 1px solid var(--border); border-radius: 12px; }
.brand { display: flex; align-items: center; gap: 14px; min-width: 0; }
.logo { width: 36px; height: 36px; border-radius: 9px; flex: none;
  background: linear-gradient(135deg, var(--c-conn), var(--c-users)); position: relative; }
.logo::after { content: ""; position: absolute; inset: 10px; border-radius: 50%; border: 3px solid rgba(255,255,255,.9); }
h1 { font-size: 17px; letter-spacing: .2px; }
.meta { color: var(--muted); font-size: 12.5px; margin-top: 2px; display: flex; gap: 14px; flex-wrap: wrap; }
.meta b { color: var(--text); font-weight: 500; font-family: var(--mono); font-size: 12px; }
.pills { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.pill { display: inline-flex; align-items: center; gap: 7px; padding: 4px 11px 4px 9px; border-radius: 999px;
  font-size: 12.5px; border: 1px solid var(--border-2); background: var(--panel-2); color: var(--muted); white-space: nowrap; }
.pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: var(--off); }
.pill .v { color: var(--text); font-weight: 600; }
.pill[data-tone="ok"]::before { background: var(--ok); }
.pill[data-tone="warn"]::before { background: var(--warn); }
.pill[data-tone="bad"]::before { background: var(--bad); }
.pill[data-tone="bad"] { border-color: rgba(248,113,113,.45); }
.pill[data-tone="warn"] { border-color: rgba(251,191,36,.4); }
.live { display: inline-flex; align-items: center; gap: 7px; font-size: 12px; color: var(--muted); margin-left: 6px; }
.live .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--off); }
body[data-state="live"] .live .dot { background: var(--ok); animation: pulse 2s ease-out infinite; }
body[data-state="error"] .live .dot { background: var(--bad); }
body[data-state="error"] .live { color: var(--bad); }
@keyframes pulse { 0% { box-shadow: 0 0 0 0 rgba(52,211,153,.55); } 100% { box-shadow: 0 0 0 8px rgba(52,211,153,0); } }
body[data-state="error"] main { opacity: .55; transition: opacity .3s; }

/* layout */
main { display: grid; gap: 16px; margin-top: 16px; }
.tiles { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 16px; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.row3 { display: grid; grid-template-columns: minmax(0, 0.85fr) minmax(0, 1.6fr) minmax(0, 1fr); gap: 16px; }

.card { background: var(--panel); border: 1px solid var(--border); border-radius: 12px; padding: 14px 16px; min-width: 0; }
.card-h { display: flex; align-items: baseline; justify-content: space-between; gap: 10px; margin-bottom: 10px; }
.card-h h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .7px; color: var(--muted); font-weight: 600;
  min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.legend { flex: none; }
.card-h .aside { font-size: 12px; color: var(--faint); }
.card-h .win { margin-left: 10px; font-size: 11.5px; color: var(--faint); text-transform: none; letter-spacing: 0; font-weight: 500; }
.scroll { overflow-x: auto; }

/* tiles */
.tile { position: relative; background: var(--panel); border: 1px solid var(--border); border-radius: 12px;
  padding: 14px 16px 12px; overflow: hidden; min-width: 0; }
.tile::before { content: ""; position: absolute; left: 0; top: 0; bottom: 0; width: 3px; background: var(--accent, var(--c-conn)); }
.tile[data-stat="connections"] { --accent: var(--c-conn); }
.tile[data-stat="users"] { --accent: var(--c-users); }
.tile[data-stat="messagesIn"] { --accent: var(--c-in); }
.tile[data-stat="messagesOut"] { --accent: var(--c-out); }
.tile[data-stat="pushes"] { --accent: var(--c-push); }
.tile[data-stat="kicks"] { --accent: var(--c-kick); }
.tile .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .7px; font-weight: 600; }
.tile .value { font-size: 32px; font-weight: 650; line-height: 1.15; margin-top: 6px; letter-spacing: -.5px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tile .unit { font-size: 14px; color: var(--muted); font-weight: 500; margin-left: 3px; letter-spacing: 0; }
.tile .foot { font-size: 12px; color: var(--faint); margin-top: 4px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tile .foot b { color: var(--muted); font-weight: 500; }

/* charts */
.legend { display: flex; gap: 14px; font-size: 12.5px; color: var(--muted); }
.lg { display: inline-flex; align-items: center; gap: 6px; }
.lg i { width: 10px; height: 3px; border-radius: 2px; background: var(--sw, var(--c-conn)); }
.lg b { color: var(--text); font-weight: 600; font-variant-numeric: tabular-nums; }
.lg[data-series="conn"] { --sw: var(--c-conn); }
.lg[data-series="users"] { --sw: var(--c-users); }
.lg[data-series="in"] { --sw: var(--c-in); }
.lg[data-series="out"] { --sw: var(--c-out); }
.lg[data-series="push"] { --sw: var(--c-push); }
canvas.chart { display: block; width: 100%; height: 170px; }

/* bars */
.bars { display: grid; gap: 10px; }
.bar-row { display: grid; grid-template-columns: 88px minmax(0, 1fr) 74px; align-items: center; gap: 10px; font-size: 13px; }
.bar-label { color: var(--text); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-family: var(--mono); font-size: 12.5px; }
.bar-track { height: 10px; border-radius: 6px; background: var(--panel-2); border: 1px solid var(--border); overflow: hidden; }
.bar-fill { height: 100%; width: 0; border-radius: 6px; background: var(--c-conn); transition: width .4s ease; }
.bar-num { text-align: right; white-space: nowrap; }
.bar-num .pct { color: var(--faint); font-size: 11.5px; margin-left: 5px; }
.empty { color: var(--faint); font-size: 13px; padding: 6px 0; }

/* tables */
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-weight: 600; color: var(--faint); font-size: 11px; text-transform: uppercase; letter-spacing: .4px;
  padding: 0 6px 7px; border-bottom: 1px solid var(--border); white-space: nowrap; }
td { padding: 7px 6px; border-bottom: 1px solid var(--grid); white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
th.n, td.n { text-align: right; }
th:first-child, td:first-child { padding-left: 0; }
th:last-child, td:last-child { padding-right: 0; }
td.name { font-family: var(--mono); font-size: 12.5px; overflow: hidden; text-overflow: ellipsis; max-width: 260px; }
td.empty-cell { color: var(--faint); text-align: left; }
td[data-tone="bad"] { color: var(--bad); font-weight: 600; }
td[data-tone="warn"] { color: var(--warn); font-weight: 600; }
td[data-tone="ok"] { color: var(--ok); }
.tag { display: inline-block; margin-left: 8px; padding: 0 7px; border-radius: 999px; font-size: 11px; font-family: var(--font);
  background: rgba(77,163,255,.14); color: var(--c-conn); border: 1px solid rgba(77,163,255,.35); vertical-align: 1px; }

/* key/value */
.kv { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 10px 18px; }
.kv .item { min-width: 0; }
.kv .k { font-size: 12px; color: var(--muted); }
.kv .v { font-size: 16px; font-weight: 600; }
.kv .v[data-tone="bad"] { color: var(--bad); }
.kv .v[data-tone="warn"] { color: var(--warn); }
.kv .d { font-size: 11.5px; color: var(--faint); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.sub-h { display: flex; align-items: center; justify-content: space-between; margin: 2px 0 10px; }
.sub-h h3 { font-size: 13px; font-weight: 600; }
.sep { height: 1px; background: var(--border); margin: 14px 0; }
.kv.k3 { grid-template-columns: repeat(3, minmax(0, 1fr)); }
.kv.k5 { grid-template-columns: repeat(5, minmax(0, 1fr)); }

footer { margin-top: 14px; color: var(--faint); font-size: 12px; display: flex; justify-content: space-between; gap: 12px; flex-wrap: wrap; }

/* narrower screens */
@media (max-width: 1100px) { .tiles { grid-template-columns: repeat(3, minmax(0, 1fr)); } .row3 { grid-template-columns: minmax(0, 1fr); } .kv.k5 { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
@media (max-width: 720px) { .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); } .charts { grid-template-columns: minmax(0, 1fr); } .kv.k5 { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
`;

const JS = String.raw`
(function () {
  'use strict';
  var POLL_MS = 1000, WINDOW_MS = 5 * 60 * 1000, TIMEOUT_MS = 2500, GAP_MS = 3500;
  var STATS_URL = 'stats';
  var body = document.body;
  var root = getComputedStyle(document.documentElement);
  function cssVar(name) { return root.getPropertyValue(name).trim() || '#888'; }
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function setText(e, text) {
    if (typeof e === 'string') e = $(e);
    if (e && e.textContent !== text) e.textContent = text;
  }
  function setTone(e, tone) {
    if (typeof e === 'string') e = $(e);
    if (!e) return;
    if (tone) { if (e.dataset.tone !== tone) e.dataset.tone = tone; } else if (e.dataset.tone) delete e.dataset.tone;
  }

  var nf = new Intl.NumberFormat('en-US');
  function fmtInt(n) { return typeof n === 'number' && isFinite(n) ? nf.format(Math.round(n)) : '—'; }
  function fmtRate(r) {
    if (r === null || r === undefined || !isFinite(r)) return '—';
    if (r === 0) return '0';
    if (r < 10) return (Math.round(r * 10) / 10).toFixed(1);
    return fmtInt(r);
  }
  function fmtMs(v) { return typeof v === 'number' && isFinite(v) ? (v < 100 ? (Math.round(v * 10) / 10).toString() : fmtInt(v)) : '—'; }
  function fmtPct(p) { return !isFinite(p) ? '—' : (p === 0 ? '0%' : p < 0.1 ? '<0.1%' : (p < 10 ? p.toFixed(1) : Math.round(p).toString()) + '%'); }
  function fmtAxis(v) {
    if (v >= 1e6) return trim(v / 1e6) + 'M';
    if (v >= 1e3) return trim(v / 1e3) + 'k';
    return trim(v);
  }
  function trim(v) { return (Math.round(v * 100) / 100).toString(); }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  function fmtUptime(sec) {
    if (typeof sec !== 'number' || !isFinite(sec)) return '—';
    sec = Math.max(0, Math.floor(sec));
    var d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
    if (d > 0) return d + 'd ' + h + 'h ' + pad2(m) + 'm';
    if (h > 0) return h + 'h ' + pad2(m) + 'm ' + pad2(s) + 's';
    if (m > 0) return m + 'm ' + pad2(s) + 's';
    return s + 's';
  }
  function fmtDate(t) { var d = new Date(t); return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + fmtClock(t); }
  function fmtClock(t) { var d = new Date(t); return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()); }
  function sum(rec) { var t = 0; if (rec) for (var k in rec) if (Object.prototype.hasOwnProperty.call(rec, k)) t += Number(rec[k]) || 0; return t; }
  function breakdown(rec) {
    var parts = [];
    if (rec) Object.keys(rec).sort().forEach(function (k) { if (rec[k]) parts.push(k + ': ' + fmtInt(rec[k])); });
    return parts.join(' · ');
  }
  function hexToRgba(hex, a) {
    var m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    if (!m) return hex;
    return 'rgba(' + parseInt(m[1], 16) + ',' + parseInt(m[2], 16) + ',' + parseInt(m[3], 16) + ',' + a + ')';
  }

  // ---------------------------------------------------------------- charts (canvas, no library)
  function niceStep(raw, integer) {
    if (!(raw > 0)) return 1;
    var e = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), f = raw / e;
    var steps = integer && e === 1 ? [1, 2, 3, 4, 5, 10] : [1, 2, 2.5, 4, 5, 10];
    for (var i = 0; i < steps.length; i++) if (f <= steps[i] + 1e-9) return steps[i] * e;
    return 10 * e;
  }
  // The time axis grows with the history this tab has (so a fresh page is not a sliver at the
  // right edge) and stops at 5 minutes, from where it scrolls.
  var SPANS = [[30e3, 10e3], [60e3, 15e3], [120e3, 30e3], [180e3, 60e3], [240e3, 60e3], [WINDOW_MS, 60e3]];
  function timeAxis(samples, now) {
    var have = samples.length ? now - samples[0].t : 0;
    for (var i = 0; i < SPANS.length; i++) if (have <= SPANS[i][0] - 2 * POLL_MS || i === SPANS.length - 1) return { span: SPANS[i][0], tick: SPANS[i][1] };
    return { span: WINDOW_MS, tick: 60e3 };
  }
  function fmtAgo(ms) { return ms === 0 ? 'now' : '−' + (ms % 60e3 === 0 ? ms / 60e3 + ' min' : ms / 1e3 + ' s'); }
  function Chart(canvas, series, integer) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.series = series;
    this.integer = integer;
  }
  Chart.prototype.draw = function (samples, now, axis) {
    var c = this.canvas, ctx = this.ctx;
    if (!ctx) return;
    var dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    var W = Math.round(w * dpr), H = Math.round(h * dpr);
    if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var pl = 44, pr = 12, pt = 8, pb = 22, iw = w - pl - pr, ih = h - pt - pb, span = axis.span, t0 = now - span;
    var series = this.series, max = 0, i, j, s, v;
    for (i = 0; i < samples.length; i++) {
      if (samples[i].t < t0) continue;
      for (j = 0; j < series.length; j++) { v = samples[i][series[j].key]; if (typeof v === 'number' && v > max) max = v; }
    }
    var step = Math.max(this.integer ? 1 : 0.5, niceStep(max * 1.08 / 4, this.integer)), top = step * 4;
    function X(t) { return pl + (t - t0) / span * iw; }
    function Y(val) { return pt + ih - val / top * ih; }

    ctx.font = '11px ' + cssVar('--font');
    ctx.lineWidth = 1;
    ctx.strokeStyle = cssVar('--grid');
    ctx.fillStyle = cssVar('--faint');
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (i = 0; i <= 4; i++) {
      var gy = Math.round(Y(step * i)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pl, gy); ctx.lineTo(w - pr, gy); ctx.stroke();
      ctx.fillText(fmtAxis(step * i), pl - 8, gy);
    }
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    var ticks = Math.round(span / axis.tick);
    for (i = 0; i <= ticks; i++) {
      var gx = Math.round(pl + iw * (1 - i / ticks)) + 0.5;
      ctx.beginPath(); ctx.moveTo(gx, pt); ctx.lineTo(gx, pt + ih); ctx.stroke();
      ctx.textAlign = i === 0 ? 'right' : i === ticks ? 'left' : 'center';
      ctx.fillText(fmtAgo(i * axis.tick), i === 0 ? gx + 2 : i === ticks ? gx - 2 : gx, pt + ih + 6);
    }

    ctx.save();
    ctx.beginPath(); ctx.rect(pl, pt - 2, iw + 2, ih + 4); ctx.clip();
    for (j = 0; j < series.length; j++) {
      s = series[j];
      var color = cssVar(s.color), segs = [], seg = null, last = null;
      for (i = 0; i < samples.length; i++) {
        var p = samples[i]; v = p[s.key];
        if (p.t < t0 - 2 * POLL_MS || typeof v !== 'number') { seg = null; continue; }
        if (seg === null || (last !== null && p.t - last.t > GAP_MS)) { seg = []; segs.push(seg); }
        seg.push([X(p.t), Y(v)]);
        last = p;
      }
      var grad = ctx.createLinearGradient(0, pt, 0, pt + ih);
      grad.addColorStop(0, hexToRgba(color, series.length > 1 ? 0.16 : 0.24));
      grad.addColorStop(1, hexToRgba(color, 0));
      for (i = 0; i < segs.length; i++) {
        seg = segs[i];
        if (seg.length < 2) continue;
        ctx.beginPath(); ctx.moveTo(seg[0][0], pt + ih);
        for (var k = 0; k < seg.length; k++) ctx.lineTo(seg[k][0], seg[k][1]);
        ctx.lineTo(seg[seg.length - 1][0], pt + ih); ctx.closePath();
        ctx.fillStyle = grad; ctx.fill();
      }
      ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.lineJoin = 'round'; ctx.lineCap = 'round';
      for (i = 0; i < segs.length; i++) {
        seg = segs[i];
        ctx.beginPath(); ctx.moveTo(seg[0][0], seg[0][1]);
        for (k = 1; k < seg.length; k++) ctx.lineTo(seg[k][0], seg[k][1]);
        ctx.stroke();
      }
      var tail = segs.length ? segs[segs.length - 1] : null;
      if (tail && tail.length) {
        var lp = tail[tail.length - 1];
        ctx.beginPath(); ctx.arc(lp[0], lp[1], 3.5, 0, Math.PI * 2);
        ctx.fillStyle = color; ctx.fill();
        ctx.lineWidth = 2; ctx.strokeStyle = cssVar('--panel'); ctx.stroke();
      }
    }
    ctx.restore();
  };

  var charts = [
    new Chart($('chart-connections'), [{ key: 'conn', color: '--c-conn' }], true),
    new Chart($('chart-users'), [{ key: 'users', color: '--c-users' }], true),
    new Chart($('chart-messages'), [{ key: 'in', color: '--c-in' }, { key: 'out', color: '--c-out' }], false),
    new Chart($('chart-pushes'), [{ key: 'push', color: '--c-push' }], false),
  ];
  var samples = [];
  function drawCharts() {
    var now = Date.now(), axis = timeAxis(samples, now);
    for (var i = 0; i < charts.length; i++) charts[i].draw(samples, now, axis);
    var label = 'last ' + fmtAgo(axis.span).slice(1), wins = document.querySelectorAll('[data-window]');
    for (var j = 0; j < wins.length; j++) setText(wins[j], label);
  }
  var resizeQueued = false;
  window.addEventListener('resize', function () {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(function () { resizeQueued = false; drawCharts(); });
  });

  // ---------------------------------------------------------------- keyed lists
  function keyedRows(container, keys, make, update) {
    var existing = {}, i, n;
    for (i = 0; i < container.children.length; i++) {
      n = container.children[i];
      if (n.dataset.key !== undefined) existing[n.dataset.key] = n;
    }
    var wanted = {};
    for (i = 0; i < keys.length; i++) {
      var key = keys[i], node = existing[key];
      wanted[key] = true;
      if (!node) { node = make(key); node.dataset.key = key; }
      update(node, key);
      if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
    }
    for (var k in existing) if (!wanted[k] && existing[k].parentNode === container) container.removeChild(existing[k]);
    for (i = container.children.length - 1; i >= 0; i--) {
      n = container.children[i];
      if (n.dataset.key === undefined) container.removeChild(n);
    }
  }
  function emptyRow(container, cols, text) {
    while (container.firstChild) container.removeChild(container.firstChild);
    var tr = el('tr'), td = el('td', 'empty-cell', text);
    td.colSpan = cols; tr.appendChild(td); container.appendChild(tr);
  }
  function kv(container, items) {
    keyedRows(container, items.map(function (it) { return it.key; }), function () {
      var d = el('div', 'item');
      d.appendChild(el('div', 'k')); d.appendChild(el('div', 'v')); d.appendChild(el('div', 'd'));
      return d;
    }, function (node, key) {
      var it = items.filter(function (x) { return x.key === key; })[0];
      setText(node.children[0], it.label);
      setText(node.children[1], it.value);
      node.children[1].id = 'kv-' + key;
      setTone(node.children[1], it.tone);
      setText(node.children[2], it.detail || '\u00a0');
      node.title = it.detail || '';
    });
  }

  // ---------------------------------------------------------------- render
  function pill(id, value, tone, title) {
    setText(id, value);
    var p = $(id).parentNode;
    setTone(p, tone);
    p.title = title || '';
  }
  var PLATFORM_COLORS = ['--c-conn', '--c-users', '--c-in', '--c-out', '--c-push', '--c-kick'];
  var platformColor = {}, platformSeen = 0;

  function render(doc, rates, now) {
    // header
    setText('hdr-instance', doc.instanceId);
    setText('hdr-version', doc.version);
    setText('hdr-uptime', fmtUptime(doc.uptimeSec));
    document.title = (doc.draining ? '[draining] ' : '') + fmtInt(doc.connections) + ' conns · ' + doc.instanceId + ' · IMA gateway';
    pill('hdr-serving', doc.draining ? 'draining' : 'serving', doc.draining ? 'warn' : 'ok');
    var rs = doc.redis ? doc.redis.state : 'unknown';
    pill('hdr-redis', rs, rs === 'up' ? 'ok' : rs === 'down' ? 'bad' : '', doc.redis && doc.redis.lastError ? 'last error: ' + doc.redis.lastError : '');
    var br = doc.businessBreaker || 'unknown';
    pill('hdr-breaker', br.replace('_', '-'), br === 'closed' ? 'ok' : br === 'open' ? 'bad' : br === 'half_open' ? 'warn' : '');

    // tiles
    var platforms = doc.platforms || {}, pkeys = Object.keys(platforms).filter(function (k) { return platforms[k] > 0; });
    setText('stat-connections', fmtInt(doc.connections));
    setText('stat-connections-foot', pkeys.length === 1 ? 'on 1 platform' : 'on ' + pkeys.length + ' platforms');
    setText('stat-users', fmtInt(doc.users));
    setText('stat-users-foot', doc.users > 0 ? (doc.connections / doc.users).toFixed(2) + ' connections / user' : 'no users online');
    setText('stat-messagesIn', fmtRate(rates.in));
    setText('stat-messagesIn-total', fmtInt(doc.messages.in));
    setText('stat-messagesOut', fmtRate(rates.out));
    setText('stat-messagesOut-total', fmtInt(doc.messages.out));
    setText('stat-pushes', fmtRate(rates.push));
    setText('stat-pushes-total', fmtInt(sum(doc.pushes)));
    setText('stat-kicks', fmtInt(doc.kicks));
    setText('stat-kicks-closed', fmtInt(sum(doc.closedByGateway)));

    // legends
    setText('lg-conn', fmtInt(doc.connections));
    setText('lg-users', fmtInt(doc.users));
    setText('lg-in', fmtRate(rates.in) + '/s');
    setText('lg-out', fmtRate(rates.out) + '/s');
    setText('lg-push', fmtRate(rates.push) + '/s');

    // platforms
    var total = sum(platforms), maxP = 0;
    pkeys.sort(function (a, b) { return platforms[b] - platforms[a] || (a < b ? -1 : 1); });
    pkeys.forEach(function (k) { if (platforms[k] > maxP) maxP = platforms[k]; if (!platformColor[k]) platformColor[k] = PLATFORM_COLORS[platformSeen++ % PLATFORM_COLORS.length]; });
    setText('platforms-aside', pkeys.length ? fmtInt(total) + ' connections' : '');
    var bars = $('platforms');
    if (!pkeys.length) {
      while (bars.firstChild) bars.removeChild(bars.firstChild);
      bars.appendChild(el('div', 'empty', 'No connections'));
    } else {
      keyedRows(bars, pkeys, function (k) {
        var row = el('div', 'bar-row');
        row.dataset.platform = k;
        row.appendChild(el('span', 'bar-label', k));
        var track = el('div', 'bar-track'), fill = el('div', 'bar-fill');
        fill.style.background = cssVar(platformColor[k]);
        track.appendChild(fill); row.appendChild(track);
        var num = el('span', 'bar-num'), cnt = el('span', 'num');
        cnt.setAttribute('data-count', '');
        num.appendChild(cnt); num.appendChild(el('span', 'pct'));
        row.appendChild(num);
        return row;
      }, function (row, k) {
        var n = platforms[k];
        setText(row.querySelector('[data-count]'), fmtInt(n));
        setText(row.querySelector('.pct'), fmtPct(total ? n / total * 100 : 0));
        row.querySelector('.bar-fill').style.width = (maxP ? Math.max(2, n / maxP * 100) : 0) + '%';
        row.title = k + ': ' + fmtInt(n) + ' connections';
      });
    }

    // upstream
    var up = doc.upstream || {}, names = Object.keys(up).sort();
    setText('upstream-aside', 'business breaker: ' + br.replace('_', '-'));
    var ub = $('upstream-rows');
    if (!names.length) emptyRow(ub, 6, 'No upstream calls yet');
    else keyedRows(ub, names, function (name) {
      var tr = el('tr');
      tr.dataset.upstream = name;
      tr.appendChild(el('td', 'name', name));
      for (var i = 0; i < 5; i++) tr.appendChild(el('td', 'n'));
      return tr;
    }, function (tr, name) {
      var u = up[name], td = tr.children, rate = u.calls ? u.errors / u.calls * 100 : 0;
      setText(td[1], fmtInt(u.calls));
      setText(td[2], fmtInt(u.errors));
      setText(td[3], fmtPct(rate));
      setTone(td[2], u.errors ? 'bad' : '');
      setTone(td[3], rate >= 5 ? 'bad' : rate > 0 ? 'warn' : 'ok');
      setText(td[4], fmtMs(u.avgMs));
      setText(td[5], fmtMs(u.maxMs));
    });

    // status events / push stream
    var se = doc.statusEvents;
    pill('se-state', se ? (se.depth > 0 ? 'queued' : 'idle') : 'not configured', se ? (se.dropped > 0 ? 'warn' : 'ok') : '');
    kv($('se-kv'), se ? [
      { key: 'se-published', label: 'Published', value: fmtInt(se.published) },
      { key: 'se-sent', label: 'Sent', value: fmtInt(se.sent) },
      { key: 'se-depth', label: 'Queue depth', value: fmtInt(se.depth), tone: se.depth > 100 ? 'warn' : '' },
      { key: 'se-retried', label: 'Retried', value: fmtInt(se.retried), tone: se.retried ? 'warn' : '' },
      { key: 'se-dropped', label: 'Dropped', value: fmtInt(se.dropped), tone: se.dropped ? 'bad' : '' },
    ] : []);
    var ps = doc.pushStream;
    var pst = ps ? ps.state : 'not configured';
    pill('ps-state', pst, !ps ? '' : pst === 'open' ? 'ok' : pst === 'connecting' || pst === 'backoff' ? 'warn' : 'bad');
    kv($('ps-kv'), ps ? [
      { key: 'ps-commands', label: 'Commands', value: fmtInt(ps.commands) },
      { key: 'ps-errors', label: 'Cmd errors', value: fmtInt(ps.commandErrors), tone: ps.commandErrors ? 'bad' : '' },
      { key: 'ps-heartbeats', label: 'Heartbeats', value: fmtInt(ps.heartbeats) },
      { key: 'ps-connects', label: 'Connects', value: fmtInt(ps.connects) },
      { key: 'ps-disconnects', label: 'Disconnects', value: fmtInt(ps.disconnects), tone: ps.disconnects > 1 ? 'warn' : '' },
    ] : []);

    // instances
    var ib = $('instances-rows'), inst = (doc.instances || []).slice();
    if (rs === 'not configured') {
      setText('instances-aside', 'standalone');
      emptyRow(ib, 4, 'Standalone instance: no Redis configured, so no cluster view.');
    } else if (!inst.length) {
      setText('instances-aside', rs === 'down' ? 'Redis down' : '');
      emptyRow(ib, 4, rs === 'down' ? 'Redis is down: the live instances are unknown.' : 'No live instances reported.');
    } else {
      inst.sort(function (a, b) { return (a.instanceId === doc.instanceId ? -1 : b.instanceId === doc.instanceId ? 1 : 0) || (a.instanceId < b.instanceId ? -1 : 1); });
      setText('instances-aside', inst.length + (inst.length === 1 ? ' live instance' : ' live instances'));
      keyedRows(ib, inst.map(function (x) { return x.instanceId; }), function (id) {
        var tr = el('tr');
        tr.dataset.instance = id;
        var name = el('td', 'name');
        name.appendChild(el('span', '', id));
        if (id === doc.instanceId) name.appendChild(el('span', 'tag', 'this'));
        tr.appendChild(name);
        tr.appendChild(el('td', 'name'));
        tr.appendChild(el('td', 'n'));
        tr.appendChild(el('td', 'n'));
        return tr;
      }, function (tr, id) {
        var x = inst.filter(function (y) { return y.instanceId === id; })[0];
        var self = id === doc.instanceId;
        setText(tr.children[1], x.address || '—');
        setText(tr.children[2], fmtInt(self ? doc.connections : x.connections));
        setText(tr.children[3], fmtInt(self ? doc.users : x.users));
      });
    }

    // counters
    var tc = doc.tokenCache || { hits: 0, misses: 0, coalesced: 0, invalidations: 0, size: 0 };
    var lookups = tc.hits + tc.misses, rejected = sum(doc.auth.rejected);
    var acks = doc.acks || {}, ackErr = sum(acks) - (acks['0'] || 0);
    kv($('counters'), [
      { key: 'auth-accepted', label: 'Logins accepted', value: fmtInt(doc.auth.accepted) },
      { key: 'auth-rejected', label: 'Logins rejected', value: fmtInt(rejected), tone: rejected ? 'warn' : '', detail: breakdown(doc.auth.rejected) },
      { key: 'token-hit', label: 'Token cache hit rate', value: lookups ? fmtPct(tc.hits / lookups * 100) : '—', detail: fmtInt(tc.size) + ' cached · ' + fmtInt(tc.coalesced) + ' coalesced' },
      { key: 'forwarded', label: 'Forwarded', value: fmtInt(doc.messages.forwarded), detail: ackErr ? 'error acks: ' + breakdown(Object.keys(acks).reduce(function (o, k) { if (k !== '0') o[k] = acks[k]; return o; }, {})) : '' },
      { key: 'duplicates', label: 'Duplicates', value: fmtInt(doc.messages.duplicates) },
      { key: 'rate-limited', label: 'Rate limited', value: fmtInt(doc.messages.rateLimited), tone: doc.messages.rateLimited ? 'warn' : '' },
      { key: 'slow', label: 'Slow consumers', value: fmtInt(doc.slowConsumers), tone: doc.slowConsumers ? 'warn' : '' },
      { key: 'push-errors', label: 'Push API errors', value: fmtInt(sum(doc.pushErrors)), tone: sum(doc.pushErrors) ? 'warn' : '', detail: breakdown(doc.pushErrors) },
      { key: 'closed', label: 'Closed by gateway', value: fmtInt(sum(doc.closedByGateway)), detail: breakdown(doc.closedByGateway) },
      { key: 'redis-rereg', label: 'Redis re-registrations', value: fmtInt(doc.redis ? doc.redis.reRegistrations : 0), detail: doc.redis && doc.redis.swept ? fmtInt(doc.redis.swept) + ' stale mappings swept' : '' },
    ]);

    setText('counters-aside', 'since ' + fmtDate(doc.startedAt));
    setText('foot-updated', 'updated ' + fmtClock(now));
  }

  // ---------------------------------------------------------------- polling
  var prev = null, polls = 0;
  function onStats(doc, now) {
    if (!doc || typeof doc !== 'object' || !doc.messages) throw new Error('unexpected stats document');
    var totals = { in: doc.messages.in, out: doc.messages.out, push: sum(doc.pushes) };
    var rates = { in: null, out: null, push: null };
    if (prev && prev.instanceId === doc.instanceId && prev.startedAt === doc.startedAt) {
      var dt = (now - prev.t) / 1000;
      if (dt > 0) for (var k in rates) rates[k] = Math.max(0, (totals[k] - prev.totals[k]) / dt);
    } else if (prev) {
      samples.length = 0; // another instance (or a restart) answered: its counters are not comparable
    }
    prev = { t: now, instanceId: doc.instanceId, startedAt: doc.startedAt, totals: totals };
    samples.push({ t: now, conn: doc.connections, users: doc.users, in: rates.in, out: rates.out, push: rates.push });
    while (samples.length && samples[0].t < now - WINDOW_MS - 5 * POLL_MS) samples.shift();
    render(doc, rates, now);
    drawCharts();
    polls++;
    body.dataset.polls = String(polls);
    body.dataset.state = 'live';
    setText('hdr-live-text', 'live');
    $('hdr-live').title = 'last update ' + fmtClock(now);
  }
  function onError(err) {
    body.dataset.state = 'error';
    var why = err && err.name === 'AbortError' ? 'timed out' : (err && err.message) || 'failed';
    setText('hdr-live-text', 'stats unavailable (' + why + '), retrying');
    drawCharts();
  }
  function poll() {
    var started = Date.now();
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, TIMEOUT_MS);
    var init = { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } };
    if (ctrl) init.signal = ctrl.signal;
    fetch(STATS_URL, init)
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (doc) { onStats(doc, Date.now()); })
      .catch(onError)
      .then(function () {
        clearTimeout(timer);
        setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started)));
      });
  }
  drawCharts();
  poll();
})();
`;

const BODY = String.raw`
<header class="top">
  <div class="brand">
    <div class="logo" aria-hidden="true"></div>
    <div>
      <h1>IMA Gateway</h1>
      <div class="meta">
        <span>instance <b id="hdr-instance">—</b></span>
        <span>version <b id="hdr-version">—</b></span>
        <span>uptime <b id="hdr-uptime">—</b></span>
      </div>
    </div>
  </div>
  <div class="pills">
    <span class="pill">state <span class="v" id="hdr-serving">—</span></span>
    <span class="pill">Redis <span class="v" id="hdr-redis">—</span></span>
    <span class="pill">business breaker <span class="v" id="hdr-breaker">—</span></span>
    <span class="live" id="hdr-live"><i class="dot"></i><span id="hdr-live-text">connecting…</span></span>
  </div>
</header>

<main>
  <section class="tiles" aria-label="Current figures">
    <div class="tile" data-stat="connections" id="tile-connections">
      <div class="label">Connections</div>
      <div class="value" id="stat-connections">—</div>
      <div class="foot" id="stat-connections-foot">&nbsp;</div>
    </div>
    <div class="tile" data-stat="users" id="tile-users">
      <div class="label">Users</div>
      <div class="value" id="stat-users">—</div>
      <div class="foot" id="stat-users-foot">&nbsp;</div>
    </div>
    <div class="tile" data-stat="messagesIn" id="tile-messagesIn">
      <div class="label">Messages in</div>
      <div class="value"><span id="stat-messagesIn">—</span><span class="unit">/s</span></div>
      <div class="foot"><b id="stat-messagesIn-total">—</b> total</div>
    </div>
    <div class="tile" data-stat="messagesOut" id="tile-messagesOut">
      <div class="label">Messages out</div>
      <div class="value"><span id="stat-messagesOut">—</span><span class="unit">/s</span></div>
      <div class="foot"><b id="stat-messagesOut-total">—</b> total</div>
    </div>
    <div class="tile" data-stat="pushes" id="tile-pushes">
      <div class="label">Push API calls</div>
      <div class="value"><span id="stat-pushes">—</span><span class="unit">/s</span></div>
      <div class="foot"><b id="stat-pushes-total">—</b> total</div>
    </div>
    <div class="tile" data-stat="kicks" id="tile-kicks">
      <div class="label">Kicks</div>
      <div class="value" id="stat-kicks">—</div>
      <div class="foot"><b id="stat-kicks-closed">—</b> closed by gateway</div>
    </div>
  </section>

  <section class="charts" aria-label="Last 5 minutes">
    <div class="card">
      <div class="card-h"><h2>Connections<span class="win" data-window></span></h2><div class="legend"><span class="lg" data-series="conn"><i></i><b id="lg-conn">—</b></span></div></div>
      <canvas class="chart" id="chart-connections" role="img" aria-label="Connections, last 5 minutes"></canvas>
    </div>
    <div class="card">
      <div class="card-h"><h2>Users<span class="win" data-window></span></h2><div class="legend"><span class="lg" data-series="users"><i></i><b id="lg-users">—</b></span></div></div>
      <canvas class="chart" id="chart-users" role="img" aria-label="Users, last 5 minutes"></canvas>
    </div>
    <div class="card">
      <div class="card-h"><h2>Messages per second<span class="win" data-window></span></h2><div class="legend"><span class="lg" data-series="in"><i></i>in <b id="lg-in">—</b></span><span class="lg" data-series="out"><i></i>out <b id="lg-out">—</b></span></div></div>
      <canvas class="chart" id="chart-messages" role="img" aria-label="Messages in and out per second, last 5 minutes"></canvas>
    </div>
    <div class="card">
      <div class="card-h"><h2>Push API calls per second<span class="win" data-window></span></h2><div class="legend"><span class="lg" data-series="push"><i></i><b id="lg-push">—</b></span></div></div>
      <canvas class="chart" id="chart-pushes" role="img" aria-label="Push API calls per second, last 5 minutes"></canvas>
    </div>
  </section>

  <section class="row3">
    <div class="card">
      <div class="card-h"><h2>Platforms</h2><span class="aside" id="platforms-aside"></span></div>
      <div class="bars" id="platforms"><div class="empty">Waiting for data…</div></div>
    </div>
    <div class="card">
      <div class="card-h"><h2>Upstream health</h2><span class="aside" id="upstream-aside"></span></div>
      <div class="scroll"><table>
        <thead><tr><th>Call</th><th class="n">Calls</th><th class="n">Errors</th><th class="n">Err %</th><th class="n">Avg ms</th><th class="n">Max ms</th></tr></thead>
        <tbody id="upstream-rows"><tr><td class="empty-cell" colspan="6">Waiting for data…</td></tr></tbody>
      </table></div>
    </div>
    <div class="card">
      <div class="sub-h"><h3>Status events</h3><span class="pill"><span class="v" id="se-state">—</span></span></div>
      <div class="kv k3" id="se-kv"></div>
      <div class="sep"></div>
      <div class="sub-h"><h3>Push stream</h3><span class="pill"><span class="v" id="ps-state">—</span></span></div>
      <div class="kv k3" id="ps-kv"></div>
    </div>
  </section>

  <section class="card">
    <div class="card-h"><h2>Counters since start</h2><span class="aside" id="counters-aside"></span></div>
    <div class="kv k5" id="counters"></div>
  </section>

  <section class="card">
    <div class="card-h"><h2>Cluster instances</h2><span class="aside" id="instances-aside"></span></div>
    <div class="scroll"><table>
      <thead><tr><th>Instance</th><th>gRPC address</th><th class="n">Connections</th><th class="n">Users</th></tr></thead>
      <tbody id="instances-rows"><tr><td class="empty-cell" colspan="4">Waiting for data…</td></tr></tbody>
    </table></div>
  </section>
</main>

<footer>
  <span>Polls <code>/stats</code> every second; the 5-minute history lives in this tab only.</span>
  <span id="foot-updated"></span>
</footer>
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The page and its Content-Security-Policy (built once). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<meta name="referrer" content="no-referrer">
<title>IMA gateway</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body data-state="loading" data-polls="0">${BODY}<script>${JS}</script>
</body>
</html>
`;

export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(JS)}`,
  `style-src ${sha256(CSS)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const RESPONSE: AdminResponse = {
  status: 200,
  body: DASHBOARD_HTML,
  contentType: 'text/html; charset=utf-8',
  headers: {
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  },
};

/** GET /dashboard: the live dashboard page (mounted by main.ts on the admin port). */
export function dashboardHandler(): AdminHandler {
  return () => RESPONSE;
}
