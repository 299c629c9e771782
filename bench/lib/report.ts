/** Medians, ratios, markdown tables and the SVG plot of bench/RESULTS.md. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function fmt(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(digits);
}

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function verdict(met: boolean): string {
  return met ? '**met**' : '**missed**';
}

/** Both plots' size and margins (left, right, top, bottom), in SVG pixels. */
const PLOT = { W: 640, H: 360, L: 70, R: 20, T: 30, B: 50 } as const;

/** Retrieval latency (p50 and p99) against collection size, log-scaled x axis. */
export function latencyPlot(points: Array<{ size: number; p50: number; p99: number; raw: number }>): string {
  const { W, H, L, R, T, B } = PLOT;
  const xs = points.map((p) => Math.log10(p.size));
  const xmin = Math.min(...xs) - 0.2;
  const xmax = Math.max(...xs) + 0.2;
  const ymax = Math.max(1, ...points.map((p) => p.p99)) * 1.15;
  const x = (v: number) => L + ((Math.log10(v) - xmin) / (xmax - xmin)) * (W - L - R);
  const y = (v: number) => H - B - (v / ymax) * (H - T - B);
  // A figure not measured at a size (NaN: raw search at 1,000,000) is left out of its line.
  const series = (key: 'p50' | 'p99' | 'raw', color: string) => {
    const ps = points.filter((p) => Number.isFinite(p[key]));
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${ps.map((p) => `${x(p.size).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ')}"/>` +
      ps.map((p) => `<circle cx="${x(p.size).toFixed(1)}" cy="${y(p[key]).toFixed(1)}" r="3.5" fill="${color}"/>`).join('');
  };
  const yticks = Array.from({ length: 6 }, (_, i) => (ymax / 5) * i);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">ctxd retrieve latency vs L3 contexts (1 connection; medians of runs)</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${yticks.map((v) => `<line x1="${L - 4}" y1="${y(v).toFixed(1)}" x2="${W - R}" y2="${y(v).toFixed(1)}" stroke="#ddd"/><text x="${L - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(1)}</text>`).join('\n')}
${points.map((p) => `<text x="${x(p.size).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${p.size.toLocaleString('en-US')}</text>`).join('\n')}
<text x="${W / 2}" y="${H - 10}" text-anchor="middle">L3 contexts (log scale)</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">ms</text>
${series('p99', '#d62728')}${series('p50', '#1f77b4')}${series('raw', '#2ca02c')}
<rect x="${L + 10}" y="${T + 5}" width="12" height="3" fill="#d62728"/><text x="${L + 28}" y="${T + 10}">retrieve p99</text>
<rect x="${L + 10}" y="${T + 20}" width="12" height="3" fill="#1f77b4"/><text x="${L + 28}" y="${T + 25}">retrieve p50</text>
<rect x="${L + 10}" y="${T + 35}" width="12" height="3" fill="#2ca02c"/><text x="${L + 28}" y="${T + 40}">raw search p50 (in process)</text>
</svg>
`;
}

export interface RssPoint {
  readonly size: number;
  /** Daemon RSS once restarted on `size` contexts with its graphs built. */
  readonly rssMiB: number;
  /** VmHWM: the most it held during the load and graph build. */
  readonly peakMiB: number;
  /** RSS of a daemon on an empty data dir. */
  readonly emptyMiB: number;
  readonly beyondText: number;
  readonly meanText: number;
}

/** Daemon RSS against collection size (log-scaled x), with what the ≤ 1 KB-per-context-beyond-text goal allows. */
export function rssPlot(points: readonly RssPoint[]): string {
  const { W, H, L, R, T, B } = PLOT;
  const allowed = (p: RssPoint) => p.emptyMiB + (p.size * (1024 + p.meanText)) / 2 ** 20;
  const xs = points.map((p) => Math.log10(p.size));
  const xmin = Math.min(...xs) - 0.2;
  const xmax = Math.max(...xs) + 0.2;
  const ymax = Math.max(1, ...points.map((p) => Math.max(p.rssMiB, p.peakMiB))) * 1.15;
  const x = (v: number) => L + ((Math.log10(v) - xmin) / (xmax - xmin)) * (W - L - R);
  const y = (v: number) => H - B - (v / ymax) * (H - T - B);
  const series = (value: (p: RssPoint) => number, color: string, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points.map((p) => `${x(p.size).toFixed(1)},${y(value(p)).toFixed(1)}`).join(' ')}"/>` +
    points.map((p) => `<circle cx="${x(p.size).toFixed(1)}" cy="${y(value(p)).toFixed(1)}" r="3.5" fill="${color}"/>`).join('');
  const yticks = Array.from({ length: 6 }, (_, i) => (ymax / 5) * i);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">ctxd daemon RSS vs L3 contexts (restarted, graphs built)</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${yticks.map((v) => `<line x1="${L - 4}" y1="${y(v).toFixed(1)}" x2="${W - R}" y2="${y(v).toFixed(1)}" stroke="#ddd"/><text x="${L - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`).join('\n')}
${points.map((p) => `<text x="${x(p.size).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${p.size.toLocaleString('en-US')}</text>`).join('\n')}
<text x="${W / 2}" y="${H - 10}" text-anchor="middle">L3 contexts (log scale)</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">MiB</text>
${series((p) => p.peakMiB, '#ff7f0e', '4 3')}${series((p) => p.rssMiB, '#d62728')}${series(allowed, '#2ca02c', '6 4')}${series((p) => p.emptyMiB, '#7f7f7f', '2 3')}
${points.map((p, i) => {
  // Labels right of their point, the last one left of it, so none leaves the plot.
  const last = i === points.length - 1;
  return `<text x="${(x(p.size) + (last ? -8 : 8)).toFixed(1)}" y="${(y(p.rssMiB) + (last ? -8 : 16)).toFixed(1)}" text-anchor="${last ? 'end' : 'start'}" fill="#d62728">${Math.round(p.beyondText).toLocaleString('en-US')} B/context beyond text</text>`;
}).join('\n')}
<rect x="${L + 10}" y="${T + 5}" width="12" height="3" fill="#d62728"/><text x="${L + 28}" y="${T + 10}">RSS, graphs built</text>
<rect x="${L + 10}" y="${T + 20}" width="12" height="3" fill="#ff7f0e"/><text x="${L + 28}" y="${T + 25}">peak RSS (VmHWM)</text>
<rect x="${L + 10}" y="${T + 35}" width="12" height="3" fill="#2ca02c"/><text x="${L + 28}" y="${T + 40}">goal: empty + 1 KB + text per context</text>
<rect x="${L + 10}" y="${T + 50}" width="12" height="3" fill="#7f7f7f"/><text x="${L + 28}" y="${T + 55}">empty daemon</text>
</svg>
`;
}
