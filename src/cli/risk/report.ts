/** A risk run's report as text: what ran, VaR and ES at each level with their errors, the closed-form checks. */
import type { ClosedFormCheck } from '../../risk/closed-form-checks.js';
import type { RiskRunResult } from '../../risk/engine.js';
import type { Portfolio } from '../../risk/portfolio.js';
import { table } from '../output.js';

/** What the reduce job reports: its JSON result, risk-report.json, and the run directory's result.json. */
export interface RiskReport {
  runId: string;
  portfolio: { assets: string[]; options: number; horizonDays: number; paths: number; steps: number; seed: string; measure: Portfolio['measure'] };
  shards: { shard: number; engine: string; device: string; paths: number; seconds: number }[];
  /** Sum of the shards' simulation times (their wall time if they ran one after another). */
  simulationSeconds: number;
  pathSteps: number;
  result: RiskRunResult;
  closedFormChecks: ClosedFormCheck[];
}

const n = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const pct = (c: number) => `${+(c * 100).toFixed(3)}%`;

export function formatReport(rep: RiskReport): string {
  const r = rep.result;
  const p = rep.portfolio;
  const engines = [...new Set(rep.shards.map((s) => s.device))].join(', ');
  const lines = [
    `risk run ${rep.runId}: ${p.assets.length} asset${p.assets.length === 1 ? '' : 's'}${p.options > 0 ? ` + ${p.options} option${p.options === 1 ? '' : 's'}` : ''}, ${p.horizonDays} days in ${p.steps} step${p.steps === 1 ? '' : 's'}, ${p.paths.toLocaleString('en-US')} paths, seed ${p.seed}, ${p.measure}${r.varianceReduction.length ? `, ${r.varianceReduction.join(' + ')} variates` : ''}`,
    `engine ${r.engine} (${engines}), ${rep.shards.length} shard${rep.shards.length === 1 ? '' : 's'}, ${n(rep.simulationSeconds, 2)} s of simulation summed over the shards`,
    '',
    table(
      ['LEVEL', 'VaR', '± SE', 'VaR 95% CI', 'ES', '± SE', 'ES 95% CI'],
      r.levels.map((l) => [pct(l.confidence), n(l.valueAtRisk), n(l.valueAtRiskSe), `${n(l.valueAtRiskCi95[0])} … ${n(l.valueAtRiskCi95[1])}`, n(l.expectedShortfall), n(l.expectedShortfallSe), `${n(l.expectedShortfallCi95[0])} … ${n(l.expectedShortfallCi95[1])}`]),
    ),
    '',
    `portfolio value ${n(r.initialValue)}; P&L mean ${n(r.mean)} ± ${n(r.meanSe)}, standard deviation ${n(r.standardDeviation)}`,
  ];
  if (rep.closedFormChecks.length === 0) {
    lines.push('no closed form for this portfolio to check against');
  } else {
    lines.push('', 'closed-form check:');
    lines.push(
      table(
        ['QUANTITY', 'SIMULATED', 'CLOSED FORM', 'REL. ERROR', 'z', ''],
        rep.closedFormChecks.map((c) => [c.quantity, n(c.simulated), n(c.closedForm), `${(c.relativeError * 100).toFixed(3)}%`, n(c.z, 2), c.ok ? 'ok (|z| ≤ 4)' : 'OFF (|z| > 4)']),
      ),
    );
  }
  return lines.join('\n');
}
