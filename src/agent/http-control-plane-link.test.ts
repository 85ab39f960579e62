import { describe, expect, it } from 'vitest';
import { MAX_REPORT_BYTES_PER_REQUEST, MAX_REPORTS_PER_REQUEST } from './agent-link.js';
import { requestChunks } from './http-control-plane-link.js';

describe('requestChunks', () => {
  const report = (attemptId: number, resultChars = 0) => ({ attemptId, ...(resultChars > 0 ? { output: { result: `"${'x'.repeat(resultChars - 2)}"`, note: null, artifacts: [] } } : {}) });

  it('cuts reports into requests by count, in order', () => {
    const reports = Array.from({ length: MAX_REPORTS_PER_REQUEST * 2 + 1 }, (_, i) => report(i));
    const chunks = requestChunks(reports);
    expect(chunks.map((c) => c.length)).toEqual([MAX_REPORTS_PER_REQUEST, MAX_REPORTS_PER_REQUEST, 1]);
    expect(chunks.flat()).toEqual(reports);
  });

  it('cuts reports that carry large results by size, a report over the budget going alone', () => {
    const mib = 1024 * 1024;
    const reports = [report(1, mib), report(2, mib), report(3), report(4, mib), report(5, 3 * mib), report(6)];
    const chunks = requestChunks(reports);
    expect(chunks.map((c) => c.map((r) => r.attemptId))).toEqual([[1], [2, 3], [4], [5], [6]]);
    expect(MAX_REPORT_BYTES_PER_REQUEST).toBeLessThan(16 * mib);
  });
});
