import { parseJobSpec } from './job-spec.js';
import { describe, expect, it } from 'vitest';
import { decideDelivery, decodeIntakeMessage, derivedIdempotencyKey, INTAKE_LABEL, overDeliveryLimit, type MessageOrigin } from './intake-message.js';

const origin: MessageOrigin = { source: 'orders', broker: 'redis', stream: 'jobs-in', messageId: '1700000000000-3' };

describe('decodeIntakeMessage', () => {
  it('turns a job spec into submit input with a key derived from where the message sits, and the intake label', () => {
    const d = decodeIntakeMessage('{"type":"noop","labels":{"team":"a"}}', origin);
    expect(d).toEqual({ ok: true, idempotencyKey: 'intake:redis:jobs-in:1700000000000-3', spec: parseJobSpec({ type: 'noop', idempotencyKey: 'intake:redis:jobs-in:1700000000000-3', labels: { team: 'a', [INTAKE_LABEL]: 'orders' } }) });
  });

  it('gives a redelivery of the same message the same key, and another message another', () => {
    const a = decodeIntakeMessage('{"type":"noop"}', origin);
    const again = decodeIntakeMessage('{"type":"noop"}', { ...origin });
    const other = decodeIntakeMessage('{"type":"noop"}', { ...origin, messageId: '1700000000000-4' });
    const nats = decodeIntakeMessage('{"type":"noop"}', { source: 'orders', broker: 'nats', stream: 'JOBS', messageId: '42' });
    expect(a.ok && again.ok && a.idempotencyKey === again.idempotencyKey).toBe(true);
    expect(other.ok && a.ok && other.idempotencyKey !== a.idempotencyKey).toBe(true);
    expect(nats.ok && nats.idempotencyKey).toBe('intake:nats:JOBS:42');
  });

  it("keeps the producer's own idempotency key", () => {
    const d = decodeIntakeMessage('{"type":"noop","idempotencyKey":"order-17"}', origin);
    expect(d.ok && d.idempotencyKey).toBe('order-17');
  });

  it('says why a message is malformed: missing field, not JSON, not an object, an invalid spec naming the field', () => {
    expect(decodeIntakeMessage(null, origin, 'spec')).toEqual({ ok: false, reason: 'malformed: the message has no "spec" field' });
    expect(decodeIntakeMessage('{nope', origin)).toMatchObject({ ok: false, reason: expect.stringMatching(/^malformed: not JSON/) });
    expect(decodeIntakeMessage('[1,2]', origin)).toEqual({ ok: false, reason: 'malformed: a message holds one job spec, a JSON object' });
    expect(decodeIntakeMessage('{"type":"noop","gpus":-1}', origin)).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid job spec: gpus: /) });
    expect(decodeIntakeMessage('{"type":"noop","bogus":1}', origin)).toMatchObject({ ok: false, reason: expect.stringContaining('unknown field(s) "bogus"') });
    expect(decodeIntakeMessage('{"type":"noop","labels":[1]}', origin)).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid job spec: labels/) });
  });

  it('keeps derived keys within the spec limit', () => {
    expect(derivedIdempotencyKey({ ...origin, stream: 'x'.repeat(400) }).length).toBe(256);
  });
});

describe('dead-letter decisions', () => {
  it('acks what was stored, dead-letters what is refused for good at once', () => {
    expect(decideDelivery({ kind: 'stored' }, 1, 5)).toEqual({ action: 'ack' });
    expect(decideDelivery({ kind: 'rejected', reason: 'refused: UNSCHEDULABLE' }, 1, 5)).toEqual({ action: 'dead-letter', reason: 'refused: UNSCHEDULABLE' });
  });

  it('retries a transient failure until the last allowed delivery, then dead-letters it', () => {
    const failed = { kind: 'failed' as const, reason: 'STORE_UNAVAILABLE: disk full' };
    for (let n = 1; n < 5; n++) expect(decideDelivery(failed, n, 5)).toEqual({ action: 'retry' });
    expect(decideDelivery(failed, 5, 5)).toEqual({ action: 'dead-letter', reason: 'not stored after 5 deliveries: STORE_UNAVAILABLE: disk full' });
  });

  it('dead-letters a delivery past the limit before trying it (a message that crashed the server)', () => {
    expect(overDeliveryLimit(5, 5)).toBeNull();
    expect(overDeliveryLimit(6, 5)).toBe('delivered 6 times (limit 5) without being stored');
  });
});
