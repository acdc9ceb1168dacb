// @ts-check
/*
 * The live dashboard (GET /dashboard on the admin port): polls `stats` (the /stats document, see
 * internal/observability/snapshot.ts) every second and draws the header, the number tiles, the
 * 5-minute charts on <canvas>, the per-platform bars, upstream health, status events / push
 * stream, the counters and the cluster instances.
 *
 * Plain browser JavaScript, no build step, no library: type-checked by `npm run lint:dashboard`
 * (tsconfig.dashboard.json) and linted by ESLint. Served as /dashboard/dashboard.js under a CSP
 * of script-src 'self' and style-src 'self': it touches styles only through the CSSOM, builds the
 * DOM with textContent (never innerHTML) and fetches only `stats` on its own origin.
 *
 * Test hooks: every number tile has `data-stat` and its value element the id `stat-<name>`
 * (`stat-<name>-total` for the totals under the rates); platform rows carry `data-platform` and a
 * `[data-count]` element; <body> gets `data-state` (loading | live | error) and `data-polls`
 * (successful polls so far).
 */

/**
 * The /stats document as this page reads it (a subset of StatsDocument in snapshot.ts). Sections
 * the page treats as optional are read defensively.
 * @typedef {object} StatsDoc
 * @property {string} instanceId
 * @property {string} version
 * @property {number} startedAt
 * @property {number} uptimeSec
 * @property {boolean} draining
 * @property {number} connections
 * @property {number} users
 * @property {Record<string, number>} [platforms]
 * @property {{ in: number, out: number, forwarded: number, duplicates: number, rateLimited: number }} messages
 * @property {Record<string, number>} [acks]
 * @property {Record<string, number>} pushes
 * @property {Record<string, number>} pushErrors
 * @property {number} kicks
 * @property {Record<string, number>} closedByGateway
 * @property {number} slowConsumers
 * @property {{ accepted: number, rejected: Record<string, number> }} auth
 * @property {{ hits: number, misses: number, coalesced: number, invalidations: number, size: number }} [tokenCache]
 * @property {Record<string, { calls: number, errors: number, avgMs: number, maxMs: number }>} [upstream]
 * @property {string} [businessBreaker]
 * @property {{ published: number, sent: number, retried: number, dropped: number, depth: number } | null} statusEvents
 * @property {{ state: string, connects: number, disconnects: number, commands: number, commandErrors: number, heartbeats: number } | null} pushStream
 * @property {{ state: string, lastError: string, reRegistrations: number, swept: number }} [redis]
 * @property {{ rooms: number, subscriptions: number, pushes: number, subscribes: Record<string, number>, pubsub: { received: number, delivered: number, malformed: number } | null }} [rooms]
 * @property {Array<{ instanceId: string, address?: string, connections?: number, users?: number }>} [instances]
 */

/** @typedef {'conn' | 'users' | 'in' | 'out' | 'push'} SeriesKey */
/** @typedef {{ t: number, conn: number, users: number, in: number | null, out: number | null, push: number | null }} Sample */
/** @typedef {{ key: SeriesKey, color: string }} Series */
/** @typedef {{ span: number, tick: number }} Axis */
/** @typedef {{ in: number | null, out: number | null, push: number | null }} Rates */
/** @typedef {{ key: string, label: string, value: string, tone?: string, detail?: string }} KvItem */

(function () {
  'use strict';
  const POLL_MS = 1000, WINDOW_MS = 5 * 60 * 1000, TIMEOUT_MS = 2500, GAP_MS = 3500;
  const STATS_URL = 'stats';
  const body = document.body;
  const root = getComputedStyle(document.documentElement);

  /** @param {string} name a custom property of :root */
  function cssVar(name) { return root.getPropertyValue(name).trim() || '#888'; }
  /** @param {string} id */
  function $(id) { return document.getElementById(id); }
  /**
   * An element that the page's markup always has.
   * @param {string} id
   * @returns {HTMLElement}
   */
  function must(id) {
    const e = $(id);
    if (!e) throw new Error('dashboard: no #' + id);
    return e;
  }
  /**
   * @param {string} id
   * @returns {HTMLCanvasElement}
   */
  function canvasById(id) {
    const e = $(id);
    if (!(e instanceof HTMLCanvasElement)) throw new Error('dashboard: no canvas #' + id);
    return e;
  }
  /**
   * The i-th child of `parent` (built by this script, so it exists).
   * @param {Element} parent
   * @param {number} i
   * @returns {HTMLElement}
   */
  function child(parent, i) {
    const c = parent.children[i];
    if (!(c instanceof HTMLElement)) throw new Error('dashboard: no child ' + i);
    return c;
  }
  /**
   * @param {Element} parent
   * @param {string} selector
   * @returns {HTMLElement}
   */
  function find(parent, selector) {
    const e = parent.querySelector(selector);
    if (!(e instanceof HTMLElement)) throw new Error('dashboard: no ' + selector);
    return e;
  }
  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {string} [cls]
   * @param {string | number | null} [text]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  /**
   * @param {Element | string | null} e an element or its id
   * @param {string} text
   */
  function setText(e, text) {
    if (typeof e === 'string') e = $(e);
    if (e && e.textContent !== text) e.textContent = text;
  }
  /**
   * @param {HTMLElement | string | null} e an element or its id
   * @param {string} [tone] ok | warn | bad; '' or undefined removes it
   */
  function setTone(e, tone) {
    if (typeof e === 'string') e = $(e);
    if (!e) return;
    if (tone) { if (e.dataset['tone'] !== tone) e.dataset['tone'] = tone; } else if (e.dataset['tone']) delete e.dataset['tone'];
  }

  const nf = new Intl.NumberFormat('en-US');
  /** @param {unknown} n */
  function fmtInt(n) { return typeof n === 'number' && isFinite(n) ? nf.format(Math.round(n)) : '—'; }
  /** @param {number | null | undefined} r */
  function fmtRate(r) {
    if (r === null || r === undefined || !isFinite(r)) return '—';
    if (r === 0) return '0';
    if (r < 10) return (Math.round(r * 10) / 10).toFixed(1);
    return fmtInt(r);
  }
  /** @param {unknown} v */
  function fmtMs(v) { return typeof v === 'number' && isFinite(v) ? (v < 100 ? (Math.round(v * 10) / 10).toString() : fmtInt(v)) : '—'; }
  /** @param {number} p */
  function fmtPct(p) { return !isFinite(p) ? '—' : (p === 0 ? '0%' : p < 0.1 ? '<0.1%' : (p < 10 ? p.toFixed(1) : Math.round(p).toString()) + '%'); }
  /** @param {number} v */
  function fmtAxis(v) {
    if (v >= 1e6) return trim(v / 1e6) + 'M';
    if (v >= 1e3) return trim(v / 1e3) + 'k';
    return trim(v);
  }
  /** @param {number} v */
  function trim(v) { return (Math.round(v * 100) / 100).toString(); }
  /** @param {number} n */
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  /** @param {unknown} sec */
  function fmtUptime(sec) {
    if (typeof sec !== 'number' || !isFinite(sec)) return '—';
    const total = Math.max(0, Math.floor(sec));
    const d = Math.floor(total / 86400), h = Math.floor(total % 86400 / 3600), m = Math.floor(total % 3600 / 60), s = total % 60;
    if (d > 0) return d + 'd ' + h + 'h ' + pad2(m) + 'm';
    if (h > 0) return h + 'h ' + pad2(m) + 'm ' + pad2(s) + 's';
    if (m > 0) return m + 'm ' + pad2(s) + 's';
    return s + 's';
  }
  /** @param {number} t unix ms */
  function fmtDate(t) { const d = new Date(t); return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + fmtClock(t); }
  /** @param {number} t unix ms */
  function fmtClock(t) { const d = new Date(t); return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()); }
  /** @param {Record<string, number> | null | undefined} rec */
  function sum(rec) {
    let t = 0;
    if (rec) for (const k in rec) if (Object.prototype.hasOwnProperty.call(rec, k)) t += Number(rec[k]) || 0;
    return t;
  }
  /**
   * "k1: n1 · k2: n2" of the non-zero entries, by key.
   * @param {Record<string, number> | null | undefined} rec
   */
  function breakdown(rec) {
    /** @type {string[]} */
    const parts = [];
    if (rec) Object.keys(rec).sort().forEach((k) => { if (rec[k]) parts.push(k + ': ' + fmtInt(rec[k])); });
    return parts.join(' · ');
  }
  /**
   * @param {string} hex #rrggbb (anything else is returned as it is)
   * @param {number} a alpha
   */
  function hexToRgba(hex, a) {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    if (!m) return hex;
    return 'rgba(' + parseInt(m[1] ?? '', 16) + ',' + parseInt(m[2] ?? '', 16) + ',' + parseInt(m[3] ?? '', 16) + ',' + a + ')';
  }

  // ---------------------------------------------------------------- charts (canvas, no library)
  /**
   * A "nice" grid step (1, 2, 2.5, 4, 5 or 10 times a power of ten) of at least `raw`.
   * @param {number} raw
   * @param {boolean} integer whole steps only (counts, not rates)
   */
  function niceStep(raw, integer) {
    if (!(raw > 0)) return 1;
    const e = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), f = raw / e;
    const steps = integer && e === 1 ? [1, 2, 3, 4, 5, 10] : [1, 2, 2.5, 4, 5, 10];
    for (const step of steps) if (f <= step + 1e-9) return step * e;
    return 10 * e;
  }
  // The time axis grows with the history this tab has (so a fresh page is not a sliver at the
  // right edge) and stops at 5 minutes, from where it scrolls.
  /** @type {ReadonlyArray<readonly [number, number]>} [span, tick] in ms */
  const SPANS = [[30e3, 10e3], [60e3, 15e3], [120e3, 30e3], [180e3, 60e3], [240e3, 60e3], [WINDOW_MS, 60e3]];
  /**
   * @param {readonly Sample[]} samples
   * @param {number} now
   * @returns {Axis}
   */
  function timeAxis(samples, now) {
    const first = samples[0];
    const have = first ? now - first.t : 0;
    for (const [i, [span, tick]] of SPANS.entries()) if (have <= span - 2 * POLL_MS || i === SPANS.length - 1) return { span, tick };
    return { span: WINDOW_MS, tick: 60e3 };
  }
  /** @param {number} ms */
  function fmtAgo(ms) { return ms === 0 ? 'now' : '−' + (ms % 60e3 === 0 ? ms / 60e3 + ' min' : ms / 1e3 + ' s'); }

  /** One line chart on a <canvas>: a grid, axis labels, and per series a filled line with a dot at its end. */
  class Chart {
    /**
     * @param {HTMLCanvasElement} canvas
     * @param {Series[]} series
     * @param {boolean} integer the values are counts (whole grid steps)
     */
    constructor(canvas, series, integer) {
      this.canvas = canvas;
      this.ctx = canvas.getContext('2d');
      this.series = series;
      this.integer = integer;
    }

    /**
     * @param {readonly Sample[]} samples
     * @param {number} now
     * @param {Axis} axis
     */
    draw(samples, now, axis) {
      const c = this.canvas, ctx = this.ctx;
      if (!ctx) return;
      const dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
      if (!w || !h) return;
      const W = Math.round(w * dpr), H = Math.round(h * dpr);
      if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const pl = 44, pr = 12, pt = 8, pb = 22, iw = w - pl - pr, ih = h - pt - pb, span = axis.span, t0 = now - span;
      const series = this.series;
      let max = 0;
      for (const sample of samples) {
        if (sample.t < t0) continue;
        for (const s of series) { const v = sample[s.key]; if (typeof v === 'number' && v > max) max = v; }
      }
      const step = Math.max(this.integer ? 1 : 0.5, niceStep(max * 1.08 / 4, this.integer)), top = step * 4;
      /** @param {number} t */
      const X = (t) => pl + (t - t0) / span * iw;
      /** @param {number} val */
      const Y = (val) => pt + ih - val / top * ih;

      ctx.font = '11px ' + cssVar('--font');
      ctx.lineWidth = 1;
      ctx.strokeStyle = cssVar('--grid');
      ctx.fillStyle = cssVar('--faint');
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      for (let i = 0; i <= 4; i++) {
        const gy = Math.round(Y(step * i)) + 0.5;
        ctx.beginPath(); ctx.moveTo(pl, gy); ctx.lineTo(w - pr, gy); ctx.stroke();
        ctx.fillText(fmtAxis(step * i), pl - 8, gy);
      }
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      const ticks = Math.round(span / axis.tick);
      for (let i = 0; i <= ticks; i++) {
        const gx = Math.round(pl + iw * (1 - i / ticks)) + 0.5;
        ctx.beginPath(); ctx.moveTo(gx, pt); ctx.lineTo(gx, pt + ih); ctx.stroke();
        ctx.textAlign = i === 0 ? 'right' : i === ticks ? 'left' : 'center';
        ctx.fillText(fmtAgo(i * axis.tick), i === 0 ? gx + 2 : i === ticks ? gx - 2 : gx, pt + ih + 6);
      }

      ctx.save();
      ctx.beginPath(); ctx.rect(pl, pt - 2, iw + 2, ih + 4); ctx.clip();
      for (const s of series) {
        const color = cssVar(s.color);
        // the line is cut where samples are missing (a gap of more than GAP_MS)
        /** @type {Array<Array<[number, number]>>} */
        const segs = [];
        /** @type {Array<[number, number]> | null} */
        let seg = null;
        /** @type {Sample | null} */
        let last = null;
        for (const p of samples) {
          const v = p[s.key];
          if (p.t < t0 - 2 * POLL_MS || typeof v !== 'number') { seg = null; continue; }
          if (seg === null || (last !== null && p.t - last.t > GAP_MS)) { seg = []; segs.push(seg); }
          seg.push([X(p.t), Y(v)]);
          last = p;
        }
        const grad = ctx.createLinearGradient(0, pt, 0, pt + ih);
        grad.addColorStop(0, hexToRgba(color, series.length > 1 ? 0.16 : 0.24));
        grad.addColorStop(1, hexToRgba(color, 0));
        for (const part of segs) {
          const first = part[0], end = part[part.length - 1];
          if (part.length < 2 || !first || !end) continue;
          ctx.beginPath(); ctx.moveTo(first[0], pt + ih);
          for (const [x, y] of part) ctx.lineTo(x, y);
          ctx.lineTo(end[0], pt + ih); ctx.closePath();
          ctx.fillStyle = grad; ctx.fill();
        }
        ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.lineJoin = 'round'; ctx.lineCap = 'round';
        for (const part of segs) {
          const first = part[0];
          if (!first) continue;
          ctx.beginPath(); ctx.moveTo(first[0], first[1]);
          for (const [x, y] of part.slice(1)) ctx.lineTo(x, y);
          ctx.stroke();
        }
        const tail = segs[segs.length - 1];
        const lp = tail ? tail[tail.length - 1] : undefined;
        if (lp) {
          ctx.beginPath(); ctx.arc(lp[0], lp[1], 3.5, 0, Math.PI * 2);
          ctx.fillStyle = color; ctx.fill();
          ctx.lineWidth = 2; ctx.strokeStyle = cssVar('--panel'); ctx.stroke();
        }
      }
      ctx.restore();
    }
  }

  const charts = [
    new Chart(canvasById('chart-connections'), [{ key: 'conn', color: '--c-conn' }], true),
    new Chart(canvasById('chart-users'), [{ key: 'users', color: '--c-users' }], true),
    new Chart(canvasById('chart-messages'), [{ key: 'in', color: '--c-in' }, { key: 'out', color: '--c-out' }], false),
    new Chart(canvasById('chart-pushes'), [{ key: 'push', color: '--c-push' }], false),
  ];
  /** @type {Sample[]} the history of this tab (at most the window, plus a few polls) */
  const samples = [];
  function drawCharts() {
    const now = Date.now(), axis = timeAxis(samples, now);
    for (const chart of charts) chart.draw(samples, now, axis);
    const label = 'last ' + fmtAgo(axis.span).slice(1);
    for (const win of Array.from(document.querySelectorAll('[data-window]'))) setText(win, label);
  }
  let resizeQueued = false;
  window.addEventListener('resize', () => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => { resizeQueued = false; drawCharts(); });
  });

  // ---------------------------------------------------------------- keyed lists
  /**
   * Makes the keyed children of `container` (those with data-key) exactly `keys`, in order:
   * existing nodes are kept and updated, missing ones made, others (and unkeyed ones) removed.
   * @template {HTMLElement} T
   * @param {HTMLElement} container
   * @param {readonly string[]} keys
   * @param {(key: string) => T} make
   * @param {(node: T, key: string) => void} update
   */
  function keyedRows(container, keys, make, update) {
    /** @type {Map<string, T>} */
    const existing = new Map();
    for (const n of Array.from(container.children)) {
      // every keyed child was made by `make`, so it is a T
      if (n instanceof HTMLElement && n.dataset['key'] !== undefined) existing.set(n.dataset['key'], /** @type {T} */ (n));
    }
    /** @type {Set<string>} */
    const wanted = new Set();
    keys.forEach((key, i) => {
      let node = existing.get(key);
      wanted.add(key);
      if (!node) { node = make(key); node.dataset['key'] = key; }
      update(node, key);
      if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
    });
    for (const [k, node] of existing) if (!wanted.has(k) && node.parentNode === container) container.removeChild(node);
    for (let i = container.children.length - 1; i >= 0; i--) {
      const n = container.children[i];
      if (n && (!(n instanceof HTMLElement) || n.dataset['key'] === undefined)) container.removeChild(n);
    }
  }
  /**
   * @param {HTMLElement} container a <tbody>
   * @param {number} cols
   * @param {string} text
   */
  function emptyRow(container, cols, text) {
    while (container.firstChild) container.removeChild(container.firstChild);
    const tr = el('tr'), td = el('td', 'empty-cell', text);
    td.colSpan = cols; tr.appendChild(td); container.appendChild(tr);
  }
  /**
   * @param {HTMLElement} container
   * @param {KvItem[]} items
   */
  function kv(container, items) {
    keyedRows(container, items.map((it) => it.key), () => {
      const d = el('div', 'item');
      d.appendChild(el('div', 'k')); d.appendChild(el('div', 'v')); d.appendChild(el('div', 'd'));
      return d;
    }, (node, key) => {
      const it = items.find((x) => x.key === key);
      if (!it) return;
      const value = child(node, 1);
      setText(child(node, 0), it.label);
      setText(value, it.value);
      value.id = 'kv-' + key;
      setTone(value, it.tone);
      setText(child(node, 2), it.detail || '\u00a0');
      node.title = it.detail || '';
    });
  }

  // ---------------------------------------------------------------- render
  /**
   * @param {string} id the value element inside the pill
   * @param {string} value
   * @param {string} tone
   * @param {string} [title]
   */
  function pill(id, value, tone, title) {
    setText(id, value);
    const p = must(id).parentElement;
    setTone(p, tone);
    if (p) p.title = title || '';
  }
  const PLATFORM_COLORS = ['--c-conn', '--c-users', '--c-in', '--c-out', '--c-push', '--c-kick'];
  /** @type {Map<string, string>} platform -> colour variable, in order of appearance */
  const platformColor = new Map();
  let platformSeen = 0;

  /**
   * @param {StatsDoc} doc
   * @param {Rates} rates
   * @param {number} now
   */
  function render(doc, rates, now) {
    // header
    setText('hdr-instance', doc.instanceId);
    setText('hdr-version', doc.version);
    setText('hdr-uptime', fmtUptime(doc.uptimeSec));
    document.title = (doc.draining ? '[draining] ' : '') + fmtInt(doc.connections) + ' conns · ' + doc.instanceId + ' · IMA gateway';
    pill('hdr-serving', doc.draining ? 'draining' : 'serving', doc.draining ? 'warn' : 'ok');
    const rs = doc.redis ? doc.redis.state : 'unknown';
    pill('hdr-redis', rs, rs === 'up' ? 'ok' : rs === 'down' ? 'bad' : '', doc.redis && doc.redis.lastError ? 'last error: ' + doc.redis.lastError : '');
    const br = doc.businessBreaker || 'unknown';
    pill('hdr-breaker', br.replace('_', '-'), br === 'closed' ? 'ok' : br === 'open' ? 'bad' : br === 'half_open' ? 'warn' : '');

    // tiles
    const platforms = doc.platforms || {};
    /** @param {string} k */
    const count = (k) => platforms[k] ?? 0;
    const pkeys = Object.keys(platforms).filter((k) => count(k) > 0);
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
    const total = sum(platforms);
    let maxP = 0;
    pkeys.sort((a, b) => count(b) - count(a) || (a < b ? -1 : 1));
    pkeys.forEach((k) => {
      if (count(k) > maxP) maxP = count(k);
      if (!platformColor.has(k)) platformColor.set(k, PLATFORM_COLORS[platformSeen++ % PLATFORM_COLORS.length] ?? '--c-conn');
    });
    setText('platforms-aside', pkeys.length ? fmtInt(total) + ' connections' : '');
    const bars = must('platforms');
    if (!pkeys.length) {
      while (bars.firstChild) bars.removeChild(bars.firstChild);
      bars.appendChild(el('div', 'empty', 'No connections'));
    } else {
      keyedRows(bars, pkeys, (k) => {
        const row = el('div', 'bar-row');
        row.dataset['platform'] = k;
        row.appendChild(el('span', 'bar-label', k));
        const track = el('div', 'bar-track'), fill = el('div', 'bar-fill');
        fill.style.background = cssVar(platformColor.get(k) ?? '--c-conn');
        track.appendChild(fill); row.appendChild(track);
        const num = el('span', 'bar-num'), cnt = el('span', 'num');
        cnt.setAttribute('data-count', '');
        num.appendChild(cnt); num.appendChild(el('span', 'pct'));
        row.appendChild(num);
        return row;
      }, (row, k) => {
        const n = count(k);
        setText(find(row, '[data-count]'), fmtInt(n));
        setText(find(row, '.pct'), fmtPct(total ? n / total * 100 : 0));
        find(row, '.bar-fill').style.width = (maxP ? Math.max(2, n / maxP * 100) : 0) + '%';
        row.title = k + ': ' + fmtInt(n) + ' connections';
      });
    }

    // upstream
    const up = doc.upstream || {}, names = Object.keys(up).sort();
    setText('upstream-aside', 'business breaker: ' + br.replace('_', '-'));
    const ub = must('upstream-rows');
    if (!names.length) emptyRow(ub, 6, 'No upstream calls yet');
    else keyedRows(ub, names, (name) => {
      const tr = el('tr');
      tr.dataset['upstream'] = name;
      tr.appendChild(el('td', 'name', name));
      for (let i = 0; i < 5; i++) tr.appendChild(el('td', 'n'));
      return tr;
    }, (tr, name) => {
      const u = up[name];
      if (!u) return;
      const rate = u.calls ? u.errors / u.calls * 100 : 0;
      setText(child(tr, 1), fmtInt(u.calls));
      setText(child(tr, 2), fmtInt(u.errors));
      setText(child(tr, 3), fmtPct(rate));
      setTone(child(tr, 2), u.errors ? 'bad' : '');
      setTone(child(tr, 3), rate >= 5 ? 'bad' : rate > 0 ? 'warn' : 'ok');
      setText(child(tr, 4), fmtMs(u.avgMs));
      setText(child(tr, 5), fmtMs(u.maxMs));
    });

    // status events / push stream
    const se = doc.statusEvents;
    pill('se-state', se ? (se.depth > 0 ? 'queued' : 'idle') : 'not configured', se ? (se.dropped > 0 ? 'warn' : 'ok') : '');
    kv(must('se-kv'), se ? [
      { key: 'se-published', label: 'Published', value: fmtInt(se.published) },
      { key: 'se-sent', label: 'Sent', value: fmtInt(se.sent) },
      { key: 'se-depth', label: 'Queue depth', value: fmtInt(se.depth), tone: se.depth > 100 ? 'warn' : '' },
      { key: 'se-retried', label: 'Retried', value: fmtInt(se.retried), tone: se.retried ? 'warn' : '' },
      { key: 'se-dropped', label: 'Dropped', value: fmtInt(se.dropped), tone: se.dropped ? 'bad' : '' },
    ] : []);
    const ps = doc.pushStream;
    const pst = ps ? ps.state : 'not configured';
    pill('ps-state', pst, !ps ? '' : pst === 'open' ? 'ok' : pst === 'connecting' || pst === 'backoff' ? 'warn' : 'bad');
    kv(must('ps-kv'), ps ? [
      { key: 'ps-commands', label: 'Commands', value: fmtInt(ps.commands) },
      { key: 'ps-errors', label: 'Cmd errors', value: fmtInt(ps.commandErrors), tone: ps.commandErrors ? 'bad' : '' },
      { key: 'ps-heartbeats', label: 'Heartbeats', value: fmtInt(ps.heartbeats) },
      { key: 'ps-connects', label: 'Connects', value: fmtInt(ps.connects) },
      { key: 'ps-disconnects', label: 'Disconnects', value: fmtInt(ps.disconnects), tone: ps.disconnects > 1 ? 'warn' : '' },
    ] : []);

    // instances
    const ib = must('instances-rows'), inst = (doc.instances || []).slice();
    if (rs === 'not configured') {
      setText('instances-aside', 'standalone');
      emptyRow(ib, 4, 'Standalone instance: no Redis configured, so no cluster view.');
    } else if (!inst.length) {
      setText('instances-aside', rs === 'down' ? 'Redis down' : '');
      emptyRow(ib, 4, rs === 'down' ? 'Redis is down: the live instances are unknown.' : 'No live instances reported.');
    } else {
      inst.sort((a, b) => (a.instanceId === doc.instanceId ? -1 : b.instanceId === doc.instanceId ? 1 : 0) || (a.instanceId < b.instanceId ? -1 : 1));
      setText('instances-aside', inst.length + (inst.length === 1 ? ' live instance' : ' live instances'));
      keyedRows(ib, inst.map((x) => x.instanceId), (id) => {
        const tr = el('tr');
        tr.dataset['instance'] = id;
        const name = el('td', 'name');
        name.appendChild(el('span', '', id));
        if (id === doc.instanceId) name.appendChild(el('span', 'tag', 'this'));
        tr.appendChild(name);
        tr.appendChild(el('td', 'name'));
        tr.appendChild(el('td', 'n'));
        tr.appendChild(el('td', 'n'));
        return tr;
      }, (tr, id) => {
        const x = inst.find((y) => y.instanceId === id);
        if (!x) return;
        const self = id === doc.instanceId;
        setText(child(tr, 1), x.address || '—');
        setText(child(tr, 2), fmtInt(self ? doc.connections : x.connections));
        setText(child(tr, 3), fmtInt(self ? doc.users : x.users));
      });
    }

    // counters
    const tc = doc.tokenCache || { hits: 0, misses: 0, coalesced: 0, invalidations: 0, size: 0 };
    const lookups = tc.hits + tc.misses, rejected = sum(doc.auth.rejected);
    const acks = doc.acks || {}, ackErr = sum(acks) - (acks['0'] || 0);
    /** @type {Record<string, number>} */
    const errorAcks = {};
    for (const k of Object.keys(acks)) if (k !== '0') errorAcks[k] = acks[k] ?? 0;
    kv(must('counters'), [
      { key: 'auth-accepted', label: 'Logins accepted', value: fmtInt(doc.auth.accepted) },
      { key: 'auth-rejected', label: 'Logins rejected', value: fmtInt(rejected), tone: rejected ? 'warn' : '', detail: breakdown(doc.auth.rejected) },
      { key: 'token-hit', label: 'Token cache hit rate', value: lookups ? fmtPct(tc.hits / lookups * 100) : '—', detail: fmtInt(tc.size) + ' cached · ' + fmtInt(tc.coalesced) + ' coalesced' },
      { key: 'forwarded', label: 'Forwarded', value: fmtInt(doc.messages.forwarded), detail: [br === 'not configured' ? 'no business service' : '', ackErr ? 'error acks: ' + breakdown(errorAcks) : ''].filter(Boolean).join(' · ') },
      { key: 'duplicates', label: 'Duplicates', value: fmtInt(doc.messages.duplicates) },
      { key: 'rate-limited', label: 'Rate limited', value: fmtInt(doc.messages.rateLimited), tone: doc.messages.rateLimited ? 'warn' : '' },
      { key: 'slow', label: 'Slow consumers', value: fmtInt(doc.slowConsumers), tone: doc.slowConsumers ? 'warn' : '' },
      { key: 'push-errors', label: 'Push API errors', value: fmtInt(sum(doc.pushErrors)), tone: sum(doc.pushErrors) ? 'warn' : '', detail: breakdown(doc.pushErrors) },
      { key: 'closed', label: 'Closed by gateway', value: fmtInt(sum(doc.closedByGateway)), detail: breakdown(doc.closedByGateway) },
      { key: 'rooms', label: 'Rooms', value: fmtInt(doc.rooms ? doc.rooms.rooms : 0), detail: doc.rooms ? fmtInt(doc.rooms.subscriptions) + ' subscriptions · ' + fmtInt(doc.rooms.pushes) + ' room pushes' + (doc.rooms.pubsub ? ' · pub/sub ' + fmtInt(doc.rooms.pubsub.received) + ' in, ' + fmtInt(doc.rooms.pubsub.malformed) + ' malformed' : '') : '' },
      { key: 'redis-rereg', label: 'Redis re-registrations', value: fmtInt(doc.redis ? doc.redis.reRegistrations : 0), detail: doc.redis && doc.redis.swept ? fmtInt(doc.redis.swept) + ' stale mappings swept' : '' },
    ]);

    setText('counters-aside', 'since ' + fmtDate(doc.startedAt));
    setText('foot-updated', 'updated ' + fmtClock(now));
  }

  // ---------------------------------------------------------------- polling
  /** @type {{ t: number, instanceId: string, startedAt: number, totals: { in: number, out: number, push: number } } | null} */
  let prev = null;
  let polls = 0;
  /**
   * @param {unknown} data the parsed /stats response
   * @param {number} now
   */
  function onStats(data, now) {
    const doc = /** @type {StatsDoc | null} */ (data);
    if (!doc || typeof doc !== 'object' || !doc.messages) throw new Error('unexpected stats document');
    const totals = { in: doc.messages.in, out: doc.messages.out, push: sum(doc.pushes) };
    /** @type {Rates} */
    const rates = { in: null, out: null, push: null };
    if (prev && prev.instanceId === doc.instanceId && prev.startedAt === doc.startedAt) {
      const dt = (now - prev.t) / 1000;
      if (dt > 0) for (const k of /** @type {const} */ (['in', 'out', 'push'])) rates[k] = Math.max(0, (totals[k] - prev.totals[k]) / dt);
    } else if (prev) {
      samples.length = 0; // another instance (or a restart) answered: its counters are not comparable
    }
    prev = { t: now, instanceId: doc.instanceId, startedAt: doc.startedAt, totals };
    samples.push({ t: now, conn: doc.connections, users: doc.users, in: rates.in, out: rates.out, push: rates.push });
    while (samples.length && (samples[0]?.t ?? now) < now - WINDOW_MS - 5 * POLL_MS) samples.shift();
    render(doc, rates, now);
    drawCharts();
    polls++;
    body.dataset['polls'] = String(polls);
    body.dataset['state'] = 'live';
    setText('hdr-live-text', 'live');
    must('hdr-live').title = 'last update ' + fmtClock(now);
  }
  /** @param {unknown} err */
  function onError(err) {
    body.dataset['state'] = 'error';
    const e = err instanceof Error ? err : null;
    const why = e && e.name === 'AbortError' ? 'timed out' : (e && e.message) || 'failed';
    setText('hdr-live-text', 'stats unavailable (' + why + '), retrying');
    drawCharts();
  }
  function poll() {
    const started = Date.now();
    const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => { if (ctrl) ctrl.abort(); }, TIMEOUT_MS);
    /** @type {RequestInit} */
    const init = { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } };
    if (ctrl) init.signal = ctrl.signal;
    void fetch(STATS_URL, init)
      .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return /** @type {Promise<unknown>} */ (r.json()); })
      .then((doc) => { onStats(doc, Date.now()); })
      .catch(onError)
      .then(() => {
        clearTimeout(timer);
        setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started)));
      });
  }
  drawCharts();
  poll();
})();
