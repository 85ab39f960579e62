import { describe, expect, it } from 'vitest';
import { blackScholes, lognormalVarEs, normCdf, normInv } from './closed-forms.js';

describe('normal distribution', () => {
  it('Φ and Φ⁻¹ agree with tabulated values', () => {
    expect(normCdf(0)).toBe(0.5);
    expect(normCdf(1.959963984540054)).toBeCloseTo(0.975, 15);
    expect(normCdf(-3)).toBeCloseTo(0.0013498980316300946, 15);
    expect(normInv(0.01)).toBeCloseTo(-2.3263478740408408, 12);
    expect(normInv(0.999)).toBeCloseTo(3.090232306167813, 12);
  });
});

describe('lognormal VaR and ES (the issue reference: S0 = 100, μ = 8 %, σ = 25 %, 10 days, 99 %)', () => {
  it('reproduces VaR 10.767 and ES 12.250 for a long unit with T = 10/252', () => {
    const r = lognormalVarEs(100, 0.08, 0.25, 10 / 252, 0.99);
    expect(r.valueAtRisk).toBeCloseTo(10.767, 3);
    expect(r.expectedShortfall).toBeCloseTo(12.25, 3);
  });

  it('does not with T = 10/365 (calendar days), so the convention is 252 trading days', () => {
    const r = lognormalVarEs(100, 0.08, 0.25, 10 / 365, 0.99);
    expect(Math.abs(r.valueAtRisk - 10.767)).toBeGreaterThan(1);
  });
});

describe('Black–Scholes', () => {
  it('prices the textbook call S = K = 100, r = 5 %, σ = 20 %, T = 1 at 10.4506', () => {
    expect(blackScholes('call', 100, 100, 0.05, 0.2, 1)).toBeCloseTo(10.4506, 4);
  });

  it('satisfies put–call parity C − P = S − K·e^{−rT}', () => {
    const c = blackScholes('call', 90, 100, 0.03, 0.3, 0.5);
    const p = blackScholes('put', 90, 100, 0.03, 0.3, 0.5);
    expect(c - p).toBeCloseTo(90 - 100 * Math.exp(-0.03 * 0.5), 12);
  });
});
