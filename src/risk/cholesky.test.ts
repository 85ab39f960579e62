import { describe, expect, it } from 'vitest';
import { cholesky, NotPositiveSemiDefiniteError } from './cholesky.js';

function product(l: Float64Array, n: number): number[] {
  const c: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += l[i * n + k]! * l[j * n + k]!;
    c.push(s);
  }
  return c;
}

describe('cholesky', () => {
  it('factors a positive definite correlation matrix: L·Lᵀ = C', () => {
    const c = [1, 0.6, -0.3, 0.6, 1, 0.2, -0.3, 0.2, 1];
    const { lower } = cholesky(c, 3);
    product(lower, 3).forEach((v, i) => expect(v).toBeCloseTo(c[i]!, 14));
    expect(lower[1]).toBe(0); // upper triangle stays zero
  });

  it('accepts a singular but valid matrix (perfectly correlated assets)', () => {
    const c = [1, 1, 0.5, 1, 1, 0.5, 0.5, 0.5, 1];
    const { lower } = cholesky(c, 3);
    product(lower, 3).forEach((v, i) => expect(v).toBeCloseTo(c[i]!, 12));
  });

  it('refuses a matrix with a negative eigenvalue, naming the row', () => {
    // ρ12 = ρ13 = 0.9, ρ23 = −0.9: the determinant 1 − 3·0.81 − 2·0.729 < 0.
    expect(() => cholesky([1, 0.9, 0.9, 0.9, 1, -0.9, 0.9, -0.9, 1], 3)).toThrow(NotPositiveSemiDefiniteError);
    try {
      cholesky([1, 0.9, 0.9, 0.9, 1, -0.9, 0.9, -0.9, 1], 3);
    } catch (e) {
      expect((e as NotPositiveSemiDefiniteError).row).toBe(2);
    }
  });
});
