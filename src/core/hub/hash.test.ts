// The tab's incremental SHA-1/SHA-256 (hash.ts) against node:crypto, the independent reference,
// for every way of cutting the input into update() calls, and for the git blob framing.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHasher, createSha1, createSha256 } from './hash.ts';

describe('incremental hashes', () => {
  it('equal node:crypto for any input cut into any pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.array(fc.nat(700), { maxLength: 6 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const s256 = createSha256();
        const s1 = createSha1();
        let at = 0;
        for (const p of [...points, bytes.length]) {
          s256.update(bytes.subarray(at, p));
          s1.update(bytes.subarray(at, p));
          at = p;
        }
        expect(s256.digestHex()).toBe(createHash('sha256').update(bytes).digest('hex'));
        expect(s1.digestHex()).toBe(createHash('sha1').update(bytes).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('give the git blob id for git-sha1 (as `git hash-object` frames it)', () => {
    const text = new TextEncoder().encode('{"hidden_size": 64}\n');
    const h = contentHasher('git-sha1', text.byteLength);
    h.update(text);
    expect(h.digestHex()).toBe(createHash('sha1').update(`blob ${text.byteLength}\0`).update(text).digest('hex'));
  });
});
