import { describe, expect, it } from 'vitest';
import { closedFormChecks } from './closed-form-checks.js';
import { lognormalVarEs } from './closed-forms.js';
import { runRiskCpu } from './cpu-engine.js';
import { validatePortfolio } from './portfolio.js';

const single = validatePortfolio({ assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 2 }], horizonDays: 10, steps: 1, confidenceLevels: [0.95, 0.99], paths: 200_000, seed: 3 });

describe('closedFormChecks', () => {
  it('single long stock: mean, VaR and ES at each level against the lognormal closed form, all within 4 SE', async () => {
    const r = await runRiskCpu(single, { workers: 0 });
    const checks = closedFormChecks(single, r);
    expect(checks.map((c) => c.quantity)).toEqual(['mean P&L', 'VaR 95%', 'ES 95%', 'VaR 99%', 'ES 99%']);
    expect(checks[3]!.closedForm).toBeCloseTo(lognormalVarEs(100, 0.08, 0.25, 10 / 252, 0.99, 2).valueAtRisk, 12);
    expect(checks[0]!.closedForm).toBeCloseTo(200 * Math.expm1(0.08 * 10 / 252), 12);
    for (const c of checks) expect(c.ok, c.quantity).toBe(true);
  });

  it('flags a result that is off by more than 4 standard errors', async () => {
    const r = await runRiskCpu(single, { workers: 0 });
    const l = r.levels[1]!;
    const off = { ...r, levels: [r.levels[0]!, { ...l, valueAtRisk: l.valueAtRisk + 5 * l.valueAtRiskSe }] };
    const before = closedFormChecks(single, r).find((x) => x.quantity === 'VaR 99%')!;
    const c = closedFormChecks(single, off).find((x) => x.quantity === 'VaR 99%')!;
    expect(before.ok).toBe(true);
    expect(c.ok).toBe(false);
    expect(c.z - before.z).toBeCloseTo(5, 6);
  });

  it('a basket has only the mean checked; options valued past the horizon have none under the real-world measure', async () => {
    const basket = validatePortfolio({ ...single, assets: [single.assets[0]!, { id: 'T', spot: 50, drift: 0.03, volatility: 0.4, position: 1 }], correlation: [[1, 0.2], [0.2, 1]] });
    const r = await runRiskCpu(basket, { workers: 0 });
    expect(closedFormChecks(basket, r).map((c) => [c.quantity, c.ok])).toEqual([['mean P&L', true]]);
    const withOption = validatePortfolio({ ...single, options: [{ asset: 'S', type: 'call', strike: 100, expiry: 1, position: 1 }] });
    expect(closedFormChecks(withOption, await runRiskCpu(withOption, { workers: 0 }))).toEqual([]);
    const riskNeutral = validatePortfolio({ ...withOption, measure: 'risk-neutral', riskFreeRate: 0.05 });
    expect(closedFormChecks(riskNeutral, await runRiskCpu(riskNeutral, { workers: 0 })).map((c) => [c.quantity, c.ok])).toEqual([['mean P&L', true]]);
  });
});
