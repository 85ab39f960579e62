import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, looksLikeToken, newTokenId } from './tokens.js';

describe('API tokens', () => {
  it('are gpuq_ and 32 random bytes in base64url, different every time', () => {
    const tokens = Array.from({ length: 100 }, () => generateToken());
    for (const t of tokens) {
      expect(t).toMatch(/^gpuq_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(t.slice(5), 'base64url')).toHaveLength(32);
      expect(looksLikeToken(t)).toBe(true);
    }
    expect(new Set(tokens).size).toBe(100);
    expect(generateToken((n) => Buffer.alloc(n, 0xff))).toBe(`gpuq_${'_'.repeat(42)}8`);
  });

  it('are stored as their SHA-256 in hex', () => {
    const t = generateToken();
    expect(hashToken(t)).toBe(createHash('sha256').update(t).digest('hex'));
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(t)).not.toBe(hashToken(`${t}x`));
  });

  it('refuses malformed values before any lookup', () => {
    for (const bad of ['', 'gpuq_', 'gpuq_short', `other_${'a'.repeat(43)}`, `gpuq_${'a'.repeat(42)}!`, ` gpuq_${'a'.repeat(43)}`]) expect(looksLikeToken(bad), bad).toBe(false);
  });

  it('have random public ids', () => {
    expect(newTokenId()).toMatch(/^tok_[0-9a-f]{16}$/);
    expect(newTokenId()).not.toBe(newTokenId());
  });
});
