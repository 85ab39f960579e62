import { describe, expect, it } from 'vitest';
import { runRiskCpu } from './cpu-engine.js';
import { parsePortfolioCsv, parsePortfolioJson, PortfolioValidationError, validatePortfolio, type PortfolioInput } from './portfolio.js';

const base: PortfolioInput = {
  assets: [
    { id: 'A', spot: 100, drift: 0.08, volatility: 0.25, position: 1 },
    { id: 'B', spot: 50, drift: 0.05, volatility: 0.3, position: -2 },
  ],
  correlation: [
    [1, 0.4],
    [0.4, 1],
  ],
  options: [{ asset: 'A', type: 'call', strike: 100, expiry: 0.5, position: 1 }],
  horizonDays: 10,
  steps: 10,
  paths: 10_000,
  seed: 1,
};

/** The violations of `input` as "path rule" strings. */
function violations(run: () => unknown): string[] {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(PortfolioValidationError);
    const err = e as PortfolioValidationError;
    expect(err.code).toBe('VALIDATION_FAILED');
    for (const v of err.violations) expect(err.message).toContain(`${v.path}: `);
    return err.violations.map((v) => `${v.path} ${v.rule}`);
  }
  throw new Error('expected a PortfolioValidationError');
}

describe('portfolio validation', () => {
  it('accepts a valid portfolio and fills the documented defaults', () => {
    const p = validatePortfolio(base);
    expect(p.daysPerYear).toBe(252);
    expect(p.confidenceLevels).toEqual([0.95, 0.99, 0.999]);
    expect(p.antithetic).toBe(true);
    expect(p.measure).toBe('real-world');
  });

  it('refuses a correlation matrix that is not positive semi-definite', () => {
    const bad = { ...base, assets: [...base.assets, { id: 'C', spot: 10, drift: 0, volatility: 0.2, position: 1 }], correlation: [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]] };
    expect(violations(() => validatePortfolio(bad))).toEqual(['correlation positive-semi-definite']);
  });

  it('refuses asymmetric, non-unit-diagonal and out-of-range correlations, each by its cell', () => {
    expect(violations(() => validatePortfolio({ ...base, correlation: [[1, 0.4], [0.3, 1]] }))).toEqual(['correlation.1.0 symmetric']);
    expect(violations(() => validatePortfolio({ ...base, correlation: [[0.9, 0.4], [0.4, 1]] }))).toEqual(['correlation.0.0 unit-diagonal']);
    expect(violations(() => validatePortfolio({ ...base, correlation: [[1, 1.2], [1.2, 1]] }))).toEqual(['correlation.1.0 range']);
    expect(violations(() => validatePortfolio({ ...base, correlation: [[1, 0.4]] }))).toEqual(['correlation shape']);
  });

  it('refuses a negative volatility, naming the asset', () => {
    const bad = { ...base, assets: [base.assets[0]!, { ...base.assets[1]!, volatility: -0.3 }] };
    expect(violations(() => validatePortfolio(bad))).toEqual(['assets.1.volatility nonnegative']);
  });

  it('refuses an option on an unknown asset', () => {
    expect(violations(() => validatePortfolio({ ...base, options: [{ asset: 'Z', type: 'put', strike: 90, expiry: 1, position: 1 }] }))).toEqual(['options.0.asset known-asset']);
  });

  it('refuses NaN (as a CSV cell can carry it) by its field', () => {
    const csv = 'id,spot,drift,volatility,position\nA,NaN,0.08,0.25,1\n';
    const settings = { horizonDays: 10, steps: 10, paths: 1000, seed: 1 };
    expect(violations(() => parsePortfolioCsv(csv, settings))).toEqual(['assets.0.spot schema.invalid_type']);
  });

  it('reports every violation at once, and refuses an odd path count with antithetic pairs', () => {
    const bad = { ...base, paths: 10_001, confidenceLevels: [0.99, 1.5], assets: [{ ...base.assets[0]!, spot: 0 }, base.assets[1]!] };
    expect(violations(() => validatePortfolio(bad)).sort()).toEqual(['assets.0.spot positive', 'confidenceLevels.1 open-unit-interval', 'paths even-with-antithetic']);
  });

  it('refuses unknown fields and malformed JSON', () => {
    expect(violations(() => validatePortfolio({ ...base, volatilty: 0.2 }))).toEqual([' schema.unrecognized_keys']);
    expect(violations(() => parsePortfolioJson('{"assets": ['))).toEqual([' json']);
  });

  it('runs nothing for a malformed portfolio: the engine throws before simulating or starting a worker', async () => {
    // A worker URL that cannot load: had the engine got as far as the pool, the error would be a load failure.
    const err = await runRiskCpu({ ...base, paths: 1_000_000, assets: [{ ...base.assets[0]!, volatility: Number.NaN }, base.assets[1]!] }, { workerUrl: new URL('file:///nonexistent/worker.js') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortfolioValidationError);
  });
});

describe('CSV portfolios', () => {
  it('reads assets and a correlation given as corr:<id> columns, matched by id', () => {
    const csv = ['# two assets', 'id,spot,drift,volatility,position,corr:B,corr:A', 'A,100,0.08,0.25,1,0.4,1', 'B,50,0.05,0.3,-2,1,0.4'].join('\n');
    const p = parsePortfolioCsv(csv, { horizonDays: 10, steps: 10, paths: 1000, seed: '18446744073709551615' });
    expect(p.assets.map((a) => a.id)).toEqual(['A', 'B']);
    expect(p.correlation).toEqual([[1, 0.4], [0.4, 1]]);
  });
});
