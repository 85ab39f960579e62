/**
 * Cholesky factor of a correlation matrix, doubling as its positive semi-definiteness check.
 *
 * A correlation matrix of perfectly correlated assets (ρ = ±1) is singular but valid, so this is the
 * semi-definite variant: a pivot in [−tol, tol] is taken as exactly zero (its column of L is zero,
 * which is right when the rest of that column of the Schur complement is also within tolerance);
 * a pivot below −tol proves the matrix is not PSD. Tolerance scales with the dimension because
 * rounding in the Schur complement grows with it.
 */

export interface CholeskyResult {
  /** Row-major lower-triangular factor, n × n, with C = L·Lᵀ (up to the tolerance). */
  lower: Float64Array;
}

/** The matrix is not positive semi-definite: the pivot at `row` went below −tolerance. */
export class NotPositiveSemiDefiniteError extends Error {
  readonly row: number;
  readonly pivot: number;
  readonly tolerance: number;
  constructor(row: number, pivot: number, tolerance: number) {
    super(`not positive semi-definite: Cholesky pivot ${pivot.toPrecision(4)} at row ${row} is below −${tolerance.toExponential(1)}`);
    this.row = row;
    this.pivot = pivot;
    this.tolerance = tolerance;
    this.name = 'NotPositiveSemiDefiniteError';
  }
}

/** The default pivot tolerance for an n × n correlation matrix. */
export function defaultPsdTolerance(n: number): number {
  return 1e-10 * Math.max(1, n);
}

/** Factors the symmetric n × n matrix `a` (row-major, length n²). Throws NotPositiveSemiDefiniteError. */
export function cholesky(a: ArrayLike<number>, n: number, tolerance = defaultPsdTolerance(n)): CholeskyResult {
  if (a.length !== n * n) throw new RangeError(`cholesky: expected ${n * n} entries, got ${a.length}`);
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let pivot = a[j * n + j]!;
    for (let k = 0; k < j; k++) pivot -= l[j * n + k]! ** 2;
    if (pivot < -tolerance) throw new NotPositiveSemiDefiniteError(j, pivot, tolerance);
    if (pivot <= tolerance) {
      // Zero pivot: the rest of column j of the Schur complement must vanish too, or the matrix is not PSD.
      for (let i = j + 1; i < n; i++) {
        let s = a[i * n + j]!;
        for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
        if (Math.abs(s) > Math.sqrt(tolerance)) throw new NotPositiveSemiDefiniteError(j, pivot, tolerance);
      }
      continue;
    }
    const d = Math.sqrt(pivot);
    l[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / d;
    }
  }
  return { lower: l };
}
