// Incremental SHA-1 and SHA-256 in plain JS, for checking downloads in the tab: WebCrypto's
// digest() takes the whole input at once, and a Hub file can be several GB, so the bytes are fed
// block by block from Cache Storage instead. The CLI uses node:crypto; hub.test.ts checks these
// against it. Algorithms as specified in FIPS 180-4.

export interface IncrementalHash {
  update(bytes: Uint8Array): void;
  /** Lower-case hex; the hash cannot be updated afterwards. */
  digestHex(): string;
}

const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Buffers input into 64-byte blocks and pads at the end (both hashes share the framing). */
abstract class BlockHash implements IncrementalHash {
  private readonly buf = new Uint8Array(64);
  private fill = 0;
  private length = 0;
  private done = false;
  protected readonly w: Uint32Array;

  constructor(protected readonly h: Uint32Array, schedule: number) {
    this.w = new Uint32Array(schedule);
  }

  protected abstract block(view: DataView, at: number): void;

  update(bytes: Uint8Array): void {
    if (this.done) throw new Error('hash already finished');
    this.length += bytes.byteLength;
    let i = 0;
    if (this.fill > 0) {
      const take = Math.min(64 - this.fill, bytes.byteLength);
      this.buf.set(bytes.subarray(0, take), this.fill);
      this.fill += take;
      i = take;
      if (this.fill < 64) return;
      this.block(new DataView(this.buf.buffer), 0);
      this.fill = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; i + 64 <= bytes.byteLength; i += 64) this.block(view, i);
    this.buf.set(bytes.subarray(i), 0);
    this.fill = bytes.byteLength - i;
  }

  digestHex(): string {
    const bits = this.length * 8;
    const tail = new Uint8Array((this.fill < 56 ? 64 : 128) - this.fill);
    tail[0] = 0x80;
    const v = new DataView(tail.buffer);
    v.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
    v.setUint32(tail.length - 4, bits >>> 0);
    this.update(tail);
    this.done = true;
    return Array.from(this.h, (x) => x.toString(16).padStart(8, '0')).join('');
  }
}

class Sha256 extends BlockHash {
  constructor() {
    super(new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]), 64);
  }

  protected block(view: DataView, at: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(at + 4 * t);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15];
      const b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.h;
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (k + S1 + ((e & f) ^ (~e & g)) + K256[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
  }
}

class Sha1 extends BlockHash {
  constructor() {
    super(new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]), 80);
  }

  protected block(view: DataView, at: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(at + 4 * t);
    for (let t = 16; t < 80; t++) {
      const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
      w[t] = (x << 1) | (x >>> 31);
    }
    const h = this.h;
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (let t = 0; t < 80; t++) {
      const f = t < 20 ? ((b & c) | (~b & d)) + 0x5a827999 : t < 40 ? (b ^ c ^ d) + 0x6ed9eba1 : t < 60 ? ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdc : (b ^ c ^ d) + 0xca62c1d6;
      const tmp = (((a << 5) | (a >>> 27)) + f + e + w[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }
}

export function createSha256(): IncrementalHash {
  return new Sha256();
}

export function createSha1(): IncrementalHash {
  return new Sha1();
}

/** The hash a Hub etag is, fed the git `blob <size>\0` header first for git ids. */
export function contentHasher(kind: 'sha256' | 'git-sha1', size: number): IncrementalHash {
  if (kind === 'sha256') return createSha256();
  const h = createSha1();
  h.update(new TextEncoder().encode(`blob ${size}\0`));
  return h;
}
