/**
 * Small hand-written SVG charts (no chart library: a few lines over time is all the dashboard draws).
 * The plot scales to its box (viewBox with preserveAspectRatio="none", strokes kept crisp with
 * non-scaling-stroke); its labels are HTML beside it, so text never stretches.
 */

export interface Series {
  label: string;
  /** A CSS class giving the line its color (.s1 … .s4). */
  tone: string;
  /** [time ms, value], oldest first; a null value breaks the line. */
  points: [number, number | null][];
}

const W = 600;
const H = 100;

export function LineChart(props: { series: Series[]; from: number; to: number; yMax?: number; unit?: string; format?: (v: number) => string; height?: number; testId?: string; step?: boolean }) {
  const { series, from, to } = props;
  const values = series.flatMap((s) => s.points.map((p) => p[1])).filter((v): v is number => v !== null);
  const top = props.yMax ?? niceMax(Math.max(1, ...values));
  const span = Math.max(1, to - from);
  const x = (t: number) => ((t - from) / span) * W;
  const y = (v: number) => H - (Math.min(v, top) / top) * H;
  const fmt = props.format ?? ((v: number) => `${Math.round(v)}${props.unit ? ` ${props.unit}` : ''}`);
  const path = (points: [number, number | null][]) => {
    let d = '';
    let open = false;
    let prevY = 0;
    for (const [t, v] of points) {
      if (v === null) {
        open = false;
        continue;
      }
      const px = x(t).toFixed(1);
      const py = y(v).toFixed(1);
      if (!open) d += `M${px},${py}`;
      else d += props.step ? `H${px}V${py}` : `L${px},${py}`;
      open = true;
      prevY = v;
    }
    return { d, last: prevY };
  };
  return (
    <figure class="chart" data-testid={props.testId}>
      <div class="chart-body" style={{ height: `${props.height ?? 90}px` }}>
        <div class="chart-y">
          <span>{fmt(top)}</span>
          <span>{fmt(0)}</span>
        </div>
        <svg class="chart-plot" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={series.map((s) => s.label).join(', ')}>
          <line class="grid" x1="0" x2={W} y1={H / 2} y2={H / 2} vector-effect="non-scaling-stroke" />
          {series.map((s) => (
            <path key={s.label} class={`line ${s.tone}`} d={path(s.points).d} vector-effect="non-scaling-stroke" />
          ))}
        </svg>
      </div>
      <figcaption>
        <span class="chart-x">{clock(from)}</span>
        {series.map((s) => {
          const last = [...s.points].reverse().find((p) => p[1] !== null);
          return (
            <span key={s.label} class={`legend ${s.tone}`}>
              {s.label} {last ? fmt(last[1]!) : '—'}
            </span>
          );
        })}
        <span class="chart-x">{clock(to)}</span>
      </figcaption>
    </figure>
  );
}

/** A bar per value, scaled to `max` (utilization: 100). */
export function Bars(props: { rows: { label: string; value: number | null; tone?: string; text?: string }[]; max: number; testId?: string }) {
  return (
    <div class="bars" data-testid={props.testId}>
      {props.rows.map((r) => (
        <div class="bar-row" key={r.label}>
          <span class="bar-label">{r.label}</span>
          <span class="bar-track">
            <span class={`bar-fill ${r.tone ?? 's1'}`} style={{ width: `${r.value === null ? 0 : Math.max(0, Math.min(100, (r.value / props.max) * 100))}%` }} />
          </span>
          <span class="bar-value">{r.text ?? (r.value === null ? '—' : r.value.toFixed(0))}</span>
        </div>
      ))}
    </div>
  );
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false, hour: '2-digit', minute: '2-digit' });
}
