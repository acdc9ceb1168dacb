/**
 * Hand-written SVG charts of the benchmark report (issue 16: plots without a browser): grouped bar
 * charts and line charts with axes, ticks and a legend, laid out in a grid as one SVG document per
 * figure. No dependency; the output is plain text that any browser, GitHub or an image viewer
 * renders.
 */

/** A chart placed in a figure. */
export interface Panel {
  readonly w: number;
  readonly h: number;
  /** SVG elements drawn in the box (0, 0)-(w, h). */
  readonly body: string;
}

export interface LineSeries {
  readonly name: string;
  readonly color: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly dashed?: boolean;
}

export interface BarSeries {
  readonly name: string;
  readonly color: string;
  /** One value per category; undefined = not measured (no bar). */
  readonly values: ReadonlyArray<number | undefined>;
}

export const PALETTE = {
  ima: '#2563eb',
  ima2: '#0891b2',
  ima3: '#7c3aed',
  bare: '#16a34a',
  socketio: '#dc2626',
  grey: '#6b7280',
} as const;

const FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A short number for ticks and labels: 950, 1.2k, 250k, 1.5M; small values with 2 significant digits. */
export function short(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  const trim = (x: number, d: number): string => x.toFixed(d).replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
  if (a >= 1e6) return `${trim(v / 1e6, a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${trim(v / 1e3, 0)}k`;
  if (a >= 1e3) return `${trim(v / 1e3, 1)}k`;
  if (a >= 100 || a === 0) return trim(v, 0);
  if (a >= 10) return trim(v, 1);
  if (a >= 1) return trim(v, 2);
  return v.toPrecision(2);
}

/** Round tick values covering [0, max] (about `count` of them). */
export function ticks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** Ticks covering [min, max] of an x axis that need not start at 0. */
function xTicks(min: number, max: number, count = 5): number[] {
  const t = ticks(max, count);
  return t.filter((v) => v >= min - (t[1] ?? 1) * 0.5);
}

const M = { left: 58, right: 14, top: 40, bottom: 46 };

function frame(w: number, h: number, title: string, subtitle: string): string {
  return (
    `<rect x="0.5" y="0.5" width="${w - 1}" height="${h - 1}" fill="#fff" stroke="#d4d4d8" rx="6"/>` +
    `<text x="10" y="17" font-size="13" font-weight="bold" ${FONT}>${esc(title)}</text>` +
    (subtitle ? `<text x="10" y="31" font-size="10.5" fill="#52525b" ${FONT}>${esc(subtitle)}</text>` : '')
  );
}

function legend(items: ReadonlyArray<{ name: string; color: string; dashed?: boolean }>, x: number, y: number, maxW: number): string {
  const parts: string[] = [];
  let cx = x;
  let cy = y;
  for (const it of items) {
    const tw = it.name.length * 6.2 + 22;
    if (cx + tw > x + maxW && cx > x) {
      cx = x;
      cy += 14;
    }
    parts.push(`<line x1="${cx}" y1="${cy - 3.5}" x2="${cx + 14}" y2="${cy - 3.5}" stroke="${it.color}" stroke-width="3"${it.dashed ? ' stroke-dasharray="4 2"' : ''}/>`);
    parts.push(`<text x="${cx + 18}" y="${cy}" font-size="10.5" ${FONT}>${esc(it.name)}</text>`);
    cx += tw;
  }
  return parts.join('');
}

function yAxis(plotX: number, plotY: number, plotW: number, plotH: number, max: number, label: string): { body: string; scale: (v: number) => number; top: number } {
  const t = ticks(max);
  const top = t[t.length - 1] as number;
  const scale = (v: number): number => plotY + plotH - (Math.max(0, v) / top) * plotH;
  const parts: string[] = [];
  for (const v of t) {
    const y = scale(v);
    parts.push(`<line x1="${plotX}" y1="${y}" x2="${plotX + plotW}" y2="${y}" stroke="#e4e4e7"/>`);
    parts.push(`<text x="${plotX - 5}" y="${y + 3.5}" font-size="10" text-anchor="end" ${FONT}>${short(v)}</text>`);
  }
  parts.push(`<line x1="${plotX}" y1="${plotY}" x2="${plotX}" y2="${plotY + plotH}" stroke="#71717a"/>`);
  parts.push(`<text transform="translate(13 ${plotY + plotH / 2}) rotate(-90)" font-size="10.5" text-anchor="middle" ${FONT}>${esc(label)}</text>`);
  return { body: parts.join(''), scale, top };
}

/** Grouped bars: one group per category, one bar per series, values above the bars. */
export function barChart(o: { title: string; subtitle?: string; yLabel: string; xLabel?: string; categories: string[]; series: BarSeries[]; w?: number; h?: number; refLine?: { value: number; label: string } }): Panel {
  const w = o.w ?? 460;
  const h = o.h ?? 280;
  const legendRows = Math.ceil(o.series.reduce((a, s) => a + s.name.length * 6.2 + 22, 0) / (w - M.left - M.right));
  const top = M.top + (o.series.length > 1 ? legendRows * 14 + 4 : 0);
  const plotX = M.left;
  const plotW = w - M.left - M.right;
  const plotH = h - top - M.bottom;
  const vals = o.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const max = Math.max(...vals, o.refLine?.value ?? 0, 1e-9) * 1.12;
  const ax = yAxis(plotX, top, plotW, plotH, max, o.yLabel);
  const parts = [frame(w, h, o.title, o.subtitle ?? ''), ax.body];
  if (o.series.length > 1) parts.push(legend(o.series, plotX, M.top + 4, plotW));
  const groupW = plotW / Math.max(1, o.categories.length);
  const barW = Math.min(44, (groupW - 10) / Math.max(1, o.series.length));
  o.categories.forEach((cat, ci) => {
    const gx = plotX + ci * groupW + (groupW - barW * o.series.length) / 2;
    o.series.forEach((s, si) => {
      const v = s.values[ci];
      const x = gx + si * barW;
      if (v === undefined || !Number.isFinite(v)) {
        parts.push(`<text x="${x + barW / 2}" y="${top + plotH - 4}" font-size="9" text-anchor="middle" fill="#a1a1aa" ${FONT}>–</text>`);
        return;
      }
      const y = ax.scale(v);
      parts.push(`<rect x="${x + 1}" y="${y}" width="${Math.max(1, barW - 2)}" height="${Math.max(0.5, top + plotH - y)}" fill="${s.color}" rx="2"/>`);
      parts.push(`<text x="${x + barW / 2}" y="${y - 3}" font-size="${barW < 26 ? 8 : 9.5}" text-anchor="middle" ${FONT}>${short(v)}</text>`);
    });
    parts.push(`<text x="${plotX + ci * groupW + groupW / 2}" y="${top + plotH + 14}" font-size="10.5" text-anchor="middle" ${FONT}>${esc(cat)}</text>`);
  });
  if (o.refLine) {
    const y = ax.scale(o.refLine.value);
    parts.push(`<line x1="${plotX}" y1="${y}" x2="${plotX + plotW}" y2="${y}" stroke="#18181b" stroke-dasharray="5 3"/>`);
    parts.push(`<text x="${plotX + plotW - 2}" y="${y - 3}" font-size="9.5" text-anchor="end" ${FONT}>${esc(o.refLine.label)}</text>`);
  }
  parts.push(`<line x1="${plotX}" y1="${top + plotH}" x2="${plotX + plotW}" y2="${top + plotH}" stroke="#71717a"/>`);
  if (o.xLabel) parts.push(`<text x="${plotX + plotW / 2}" y="${h - 10}" font-size="10.5" text-anchor="middle" ${FONT}>${esc(o.xLabel)}</text>`);
  return { w, h, body: parts.join('') };
}

/** Lines with point markers over a linear x axis. */
export function lineChart(o: { title: string; subtitle?: string; xLabel: string; yLabel: string; series: LineSeries[]; w?: number; h?: number }): Panel {
  const w = o.w ?? 460;
  const h = o.h ?? 280;
  const legendRows = Math.ceil(o.series.reduce((a, s) => a + s.name.length * 6.2 + 22, 0) / (w - M.left - M.right));
  const top = M.top + legendRows * 14 + 4;
  const plotX = M.left;
  const plotW = w - M.left - M.right;
  const plotH = h - top - M.bottom;
  const pts = o.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const parts = [frame(w, h, o.title, o.subtitle ?? '')];
  if (pts.length === 0) {
    parts.push(`<text x="${w / 2}" y="${h / 2}" font-size="11" text-anchor="middle" fill="#a1a1aa" ${FONT}>not measured</text>`);
    return { w, h, body: parts.join('') };
  }
  const ymax = Math.max(...pts.map((p) => p[1]), 1e-9) * 1.1;
  const xmin = Math.min(...pts.map((p) => p[0]));
  const xmaxRaw = Math.max(...pts.map((p) => p[0]));
  const xt = xTicks(Math.min(0, xmin), xmaxRaw);
  const x0 = Math.min(xt[0] as number, xmin);
  const x1 = Math.max(xt[xt.length - 1] as number, xmaxRaw);
  const sx = (x: number): number => plotX + ((x - x0) / Math.max(1e-9, x1 - x0)) * plotW;
  const ax = yAxis(plotX, top, plotW, plotH, ymax, o.yLabel);
  parts.push(ax.body);
  parts.push(legend(o.series, plotX, M.top + 4, plotW));
  for (const v of xt) {
    const x = sx(v);
    parts.push(`<line x1="${x}" y1="${top + plotH}" x2="${x}" y2="${top + plotH + 4}" stroke="#71717a"/>`);
    parts.push(`<text x="${x}" y="${top + plotH + 15}" font-size="10" text-anchor="middle" ${FONT}>${short(v)}</text>`);
  }
  parts.push(`<line x1="${plotX}" y1="${top + plotH}" x2="${plotX + plotW}" y2="${top + plotH}" stroke="#71717a"/>`);
  parts.push(`<text x="${plotX + plotW / 2}" y="${h - 10}" font-size="10.5" text-anchor="middle" ${FONT}>${esc(o.xLabel)}</text>`);
  for (const s of o.series) {
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => [sx(x), ax.scale(y)] as const);
    if (p.length > 1) parts.push(`<polyline points="${p.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    for (const [x, y] of p) parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  return { w, h, body: parts.join('') };
}

/**
 * Horizontal bars of measured / target on a log scale around the target line, green when the goal
 * is met, red when missed, grey when not measured.
 */
export function goalChart(title: string, rows: ReadonlyArray<{ label: string; value: number | null; target: number; op: '>=' | '<='; met: boolean | null; text: string }>, w = 1060): Panel {
  const rowH = 22;
  const h = 44 + rows.length * rowH + 10;
  const mid = 520;
  const scale = 100;
  /** The measured value and verdict, in a column right of the longest bar. */
  const textX = mid + 2 * scale + 10;
  const parts = [frame(w, h, title, 'bar = measured / goal on a log scale, clipped at 100x either way (right of the dashed line = better than the goal); green met, red missed, grey not measured')];
  rows.forEach((r, i) => {
    const y = 44 + i * rowH;
    parts.push(`<text x="10" y="${y + 13}" font-size="10.5" ${FONT}>${esc(r.label)}</text>`);
    if (r.value === null || !Number.isFinite(r.value)) {
      parts.push(`<text x="${textX}" y="${y + 13}" font-size="10" fill="#71717a" ${FONT}>not measured</text>`);
      return;
    }
    // "better" goes right whatever the direction of the goal
    const rel = r.op === '>=' ? Math.log10(Math.max(1e-3, r.value) / r.target) : Math.log10(r.target / Math.max(1e-3, r.value));
    const c = Math.max(-2, Math.min(2, rel));
    const x = c < 0 ? mid + c * scale : mid;
    parts.push(`<rect x="${x}" y="${y + 2}" width="${Math.max(1, Math.abs(c) * scale)}" height="15" fill="${r.met === true ? '#16a34a' : r.met === false ? '#dc2626' : '#a1a1aa'}" rx="2"/>`);
    parts.push(`<text x="${textX}" y="${y + 13}" font-size="10" ${FONT}>${esc(r.text)}</text>`);
  });
  parts.push(`<line x1="${mid}" y1="38" x2="${mid}" y2="${h - 6}" stroke="#18181b" stroke-dasharray="4 3"/>`);
  return { w, h, body: parts.join('') };
}

/** One SVG document: a title line and the panels in a grid of `cols` columns. */
export function figure(title: string, subtitle: string, panels: Panel[], cols = 2, gap = 12): string {
  const rows: Panel[][] = [];
  for (let i = 0; i < panels.length; i += cols) rows.push(panels.slice(i, i + cols));
  let y = 46;
  let width = 0;
  const parts: string[] = [];
  for (const row of rows) {
    let x = 10;
    for (const p of row) {
      parts.push(`<g transform="translate(${x} ${y})">${p.body}</g>`);
      x += p.w + gap;
    }
    width = Math.max(width, x);
    y += Math.max(...row.map((p) => p.h)) + gap;
  }
  width = Math.max(width, 600);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">` +
    `<rect width="100%" height="100%" fill="#fafafa"/>` +
    `<text x="10" y="22" font-size="16" font-weight="bold" ${FONT}>${esc(title)}</text>` +
    `<text x="10" y="38" font-size="11" fill="#52525b" ${FONT}>${esc(subtitle)}</text>` +
    parts.join('') +
    `</svg>\n`
  );
}
