/**
 * A run's validation against closed forms, where the portfolio has them: printed with every result so
 * a user sees how far the simulation is from the exact answer, in standard errors.
 *
 * - Mean P&L. Under `risk-neutral` every position's discounted value is a martingale, so
 *   E[P&L] = V0·(e^{rT} − 1) for any portfolio. Under `real-world`, stocks alone:
 *   E[P&L] = Σ units·S0·(e^{μT} − 1); options at the horizon, e^{μT}·BS(S0, K, μ, σ, T) each.
 * - VaR and ES at every level: one long stock position, no options (lognormal, closed-forms.ts).
 */
import { blackScholes, lognormalVarEs } from './closed-forms.js';
import type { RiskRunResult } from './engine.js';
import type { Portfolio } from './portfolio.js';

export interface ClosedFormCheck {
  quantity: string;
  simulated: number;
  closedForm: number;
  standardError: number;
  /** (simulated − closed form) / standard error. */
  z: number;
  relativeError: number;
  /** |z| ≤ 4: the simulation agrees with the closed form. */
  ok: boolean;
}

export function closedFormChecks(p: Portfolio, r: RiskRunResult): ClosedFormCheck[] {
  const T = r.horizonYears;
  const checks: ClosedFormCheck[] = [];
  const mean = expectedPnl(p, T, r.initialValue);
  if (mean !== null) checks.push(check('mean P&L', r.mean, mean, r.meanSe));
  const a = p.assets[0]!;
  if (p.assets.length === 1 && p.options.length === 0 && a.position > 0) {
    const drift = p.measure === 'risk-neutral' ? p.riskFreeRate : a.drift;
    for (const l of r.levels) {
      const exact = lognormalVarEs(a.spot, drift, a.volatility, T, l.confidence, a.position);
      const pct = `${+(l.confidence * 100).toFixed(3)}%`;
      checks.push(check(`VaR ${pct}`, l.valueAtRisk, exact.valueAtRisk, l.valueAtRiskSe));
      checks.push(check(`ES ${pct}`, l.expectedShortfall, exact.expectedShortfall, l.expectedShortfallSe));
    }
  }
  return checks;
}

function expectedPnl(p: Portfolio, T: number, initialValue: number): number | null {
  if (p.measure === 'risk-neutral') return initialValue * Math.expm1(p.riskFreeRate * T);
  let e = 0;
  for (const a of p.assets) e += a.position * a.spot * Math.expm1(a.drift * T);
  for (const o of p.options) {
    if (Math.abs(o.expiry - T) > 1e-12) return null; // valued by Black–Scholes at the horizon: no closed form for its mean under μ
    const a = p.assets.find((x) => x.id === o.asset)!;
    const atHorizon = Math.exp(a.drift * T) * blackScholes(o.type, a.spot, o.strike, a.drift, a.volatility, T);
    e += o.position * (atHorizon - blackScholes(o.type, a.spot, o.strike, p.riskFreeRate, a.volatility, o.expiry));
  }
  return e;
}

function check(quantity: string, simulated: number, closedForm: number, standardError: number): ClosedFormCheck {
  const z = (simulated - closedForm) / standardError;
  return { quantity, simulated, closedForm, standardError, z, relativeError: closedForm === 0 ? Math.abs(simulated) : Math.abs(simulated / closedForm - 1), ok: Math.abs(z) <= 4 };
}
