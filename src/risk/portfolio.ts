/**
 * The risk run's input: a portfolio (assets, correlation, optional European options) and the
 * simulation settings, parsed from JSON or CSV and validated before anything runs.
 *
 * Validation is in two layers: zod checks structure and types (finite numbers: NaN and ±Infinity are
 * refused, integers where counts are meant); explicit numeric checks then enforce the model's rules
 * (positive spots, non-negative volatilities, a symmetric, unit-diagonal, positive semi-definite
 * correlation matrix, options on known assets). Every violation is reported at once, each naming its
 * field (dotted path) and rule, in a `PortfolioValidationError`.
 */
import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../core/errors.js';
import { cholesky, defaultPsdTolerance, NotPositiveSemiDefiniteError } from './cholesky.js';
import { seedToBigInt } from './rng.js';

const finite = z.number();

const assetSchema = z.strictObject({
  id: z.string().min(1),
  spot: finite,
  /** Annual drift μ under the real-world measure (continuous compounding). */
  drift: finite,
  /** Annual volatility σ. */
  volatility: finite,
  /** Units held (negative: short). */
  position: finite,
});

const optionSchema = z.strictObject({
  asset: z.string().min(1),
  type: z.enum(['call', 'put']),
  strike: finite,
  /** Years from today to expiry; must be at least the horizon (the option is valued at the horizon). */
  expiry: finite,
  /** Contracts held (each on one unit of the asset; negative: written). */
  position: finite,
});

export const portfolioSchema = z.strictObject({
  assets: z.array(assetSchema).min(1),
  /** Row-major, in the order of `assets`. May be left out for a single asset. */
  correlation: z.array(z.array(finite)).optional(),
  options: z.array(optionSchema).default([]),
  /** Continuously compounded risk-free rate (options' repricing, and the drift under `risk-neutral`). @default 0 */
  riskFreeRate: finite.default(0),
  horizonDays: finite,
  /** Days per year for the horizon: 252 trading days reproduces the issue's reference numbers. @default 252 */
  daysPerYear: finite.default(252),
  /** Time steps of the log-space GBM walk over the horizon. */
  steps: z.number().int().min(1).max(100_000),
  confidenceLevels: z.array(finite).min(1).default([0.95, 0.99, 0.999]),
  paths: z.number().int().min(2).max(2 ** 40),
  /** An unsigned 64-bit integer: a JSON number (safe integer) or a decimal string. */
  seed: z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{1,20}$/)]),
  /** `real-world` uses each asset's drift; `risk-neutral` uses riskFreeRate (pricing checks). @default real-world */
  measure: z.enum(['real-world', 'risk-neutral']).default('real-world'),
  /** Antithetic variates: each path's normals are reused negated by its pair. Needs an even `paths`. @default true */
  antithetic: z.boolean().default(true),
});

export type PortfolioInput = z.input<typeof portfolioSchema>;
export type Portfolio = z.output<typeof portfolioSchema>;

/** One rule a field broke: `path` is dotted ("assets.1.volatility"), `rule` a stable name ("nonnegative"). */
export interface PortfolioIssue extends FieldIssue {
  rule: string;
}

/** The portfolio or its settings broke a rule; nothing was simulated. `violations` lists every one. */
export class PortfolioValidationError extends ValidationError {
  readonly violations: PortfolioIssue[];
  constructor(violations: PortfolioIssue[]) {
    super(violations.map((v) => ({ path: v.path, message: `${v.message} [rule: ${v.rule}]` })));
    this.violations = violations;
  }
}

const SYMMETRY_TOLERANCE = 1e-12;

/** Validates a parsed JSON value as a portfolio; throws PortfolioValidationError listing every violation. */
export function validatePortfolio(input: unknown): Portfolio {
  const parsed = portfolioSchema.safeParse(input);
  if (!parsed.success) {
    throw new PortfolioValidationError(
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), rule: `schema.${i.code}`, message: i.message })),
    );
  }
  const p = parsed.data;
  const issues: PortfolioIssue[] = [];
  const add = (path: string, rule: string, message: string) => issues.push({ path, rule, message });

  const ids = new Map<string, number>();
  p.assets.forEach((a, i) => {
    if (ids.has(a.id)) add(`assets.${i}.id`, 'unique', `asset id "${a.id}" repeats assets.${ids.get(a.id)}.id`);
    else ids.set(a.id, i);
    if (!(a.spot > 0)) add(`assets.${i}.spot`, 'positive', `spot must be > 0, got ${a.spot}`);
    if (!(a.volatility >= 0)) add(`assets.${i}.volatility`, 'nonnegative', `volatility must be ≥ 0, got ${a.volatility}`);
  });
  const horizonYears = p.horizonDays / p.daysPerYear;
  if (!(p.horizonDays > 0)) add('horizonDays', 'positive', `horizonDays must be > 0, got ${p.horizonDays}`);
  if (!(p.daysPerYear > 0)) add('daysPerYear', 'positive', `daysPerYear must be > 0, got ${p.daysPerYear}`);
  p.confidenceLevels.forEach((c, i) => {
    if (!(c > 0 && c < 1)) add(`confidenceLevels.${i}`, 'open-unit-interval', `a confidence level must be in (0, 1), e.g. 0.99, got ${c}`);
    else if (Math.ceil((1 - c) * p.paths) < 2) add(`confidenceLevels.${i}`, 'enough-tail-paths', `level ${c} leaves fewer than 2 of ${p.paths} paths in the tail; raise paths`);
  });
  if (p.antithetic && p.paths % 2 !== 0) add('paths', 'even-with-antithetic', `antithetic pairs need an even number of paths, got ${p.paths}`);
  try {
    seedToBigInt(p.seed);
  } catch {
    add('seed', 'uint64', `seed must be an integer in [0, 2^64), got ${p.seed}`);
  }
  p.options.forEach((o, i) => {
    if (!ids.has(o.asset)) add(`options.${i}.asset`, 'known-asset', `unknown asset "${o.asset}"; known: ${[...ids.keys()].join(', ')}`);
    if (!(o.strike > 0)) add(`options.${i}.strike`, 'positive', `strike must be > 0, got ${o.strike}`);
    if (!(o.expiry >= horizonYears - 1e-12)) add(`options.${i}.expiry`, 'not-before-horizon', `expiry (${o.expiry} years) must be at least the horizon (${horizonYears} years)`);
  });

  const n = p.assets.length;
  if (p.correlation === undefined) {
    if (n > 1) add('correlation', 'required', `a ${n} × ${n} correlation matrix is required for ${n} assets`);
  } else {
    const c = p.correlation;
    const square = c.length === n && c.every((row) => row.length === n);
    if (!square) add('correlation', 'shape', `must be ${n} × ${n} (one row and column per asset, in the order of assets)`);
    else {
      let entriesOk = true;
      for (let i = 0; i < n; i++) {
        if (c[i]![i] !== 1) {
          add(`correlation.${i}.${i}`, 'unit-diagonal', `diagonal entries must be 1, got ${c[i]![i]}`);
          entriesOk = false;
        }
        for (let j = 0; j < i; j++) {
          const a = c[i]![j]!, b = c[j]![i]!;
          if (Math.abs(a - b) > SYMMETRY_TOLERANCE) {
            add(`correlation.${i}.${j}`, 'symmetric', `must equal correlation.${j}.${i} (${a} ≠ ${b})`);
            entriesOk = false;
          } else if (!(Math.abs(a) <= 1)) {
            add(`correlation.${i}.${j}`, 'range', `a correlation must be in [−1, 1], got ${a}`);
            entriesOk = false;
          }
        }
      }
      if (entriesOk) {
        const tol = defaultPsdTolerance(n);
        try {
          cholesky(c.flat(), n, tol);
        } catch (e) {
          if (!(e instanceof NotPositiveSemiDefiniteError)) throw e;
          add('correlation', 'positive-semi-definite', `the matrix is ${e.message} (tolerance ${tol}); fix the correlations so that no portfolio has negative variance`);
        }
      }
    }
  }
  if (issues.length > 0) throw new PortfolioValidationError(issues);
  return p;
}

/** Parses JSON text and validates it. */
export function parsePortfolioJson(text: string): Portfolio {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new PortfolioValidationError([{ path: '', rule: 'json', message: `not valid JSON: ${(e as Error).message}` }]);
  }
  return validatePortfolio(value);
}

/**
 * Parses a CSV of assets, one per row, with the header `id,spot,drift,volatility,position` followed by
 * one `corr:<id>` column per asset (the correlation row of that asset; the columns may be left out
 * for a single asset). Settings the CSV cannot hold (horizon, steps, paths, seed, levels, options)
 * come in `settings`. Cells are numbers as JavaScript reads them, so "NaN" parses to NaN and is
 * refused by validation, naming the cell's field.
 */
export function parsePortfolioCsv(text: string, settings: Omit<PortfolioInput, 'assets' | 'correlation'>): Portfolio {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const required = ['id', 'spot', 'drift', 'volatility', 'position'];
  const missing = required.filter((h) => !header.includes(h));
  if (lines.length < 2 || missing.length > 0) {
    throw new PortfolioValidationError([{ path: 'csv', rule: 'header', message: `needs a header with ${required.join(',')} (missing: ${missing.join(', ') || 'none'}) and at least one asset row` }]);
  }
  const corrCols = header.filter((h) => h.startsWith('corr:'));
  const rows = lines.slice(1).map((l) => l.split(',').map((c) => c.trim()));
  const cell = (row: string[], name: string) => row[header.indexOf(name)] ?? '';
  const num = (s: string) => (s === '' ? Number.NaN : Number(s));
  const assets = rows.map((r) => ({ id: cell(r, 'id'), spot: num(cell(r, 'spot')), drift: num(cell(r, 'drift')), volatility: num(cell(r, 'volatility')), position: num(cell(r, 'position')) }));
  // Correlation columns are matched to rows by asset id, so the column order need not follow the rows.
  const correlation = corrCols.length === 0 ? undefined : rows.map((r) => assets.map((a) => num(cell(r, `corr:${a.id}`))));
  return validatePortfolio({ ...settings, assets, ...(correlation === undefined ? {} : { correlation }) });
}
