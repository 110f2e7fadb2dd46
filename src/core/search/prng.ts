/** Seeded pseudo-random numbers for the search: sfc32 (small, fast, 128-bit state) seeded through
 * splitmix32, so every run is reproducible from one integer and its state is plain JSON. */

export type PrngState = [number, number, number, number];

export class Prng {
  private s: PrngState;

  constructor(seedOrState: number | PrngState) {
    if (typeof seedOrState === 'number') {
      let x = seedOrState >>> 0;
      const next = (): number => {
        // splitmix32: spreads nearby seeds (0, 1, 2...) over unrelated streams
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        return (z ^ (z >>> 16)) >>> 0;
      };
      this.s = [next(), next(), next(), next()];
      for (let i = 0; i < 12; i++) this.nextUint32();
    } else {
      this.s = [...seedOrState] as PrngState;
    }
  }

  /** The full generator state; `new Prng(state)` continues the exact same stream. */
  state(): PrngState {
    return [...this.s] as PrngState;
  }

  nextUint32(): number {
    let [a, b, c, d] = this.s;
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    this.s = [a >>> 0, b, c, d];
    return t;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller; one value per call keeps the state simple to serialise). */
  normal(): number {
    let u = this.uniform();
    while (u <= 0) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A point of the unit cube [0,1)^dim. */
  unitVector(dim: number): number[] {
    return Array.from({ length: dim }, () => this.uniform());
  }

  /** A weight vector uniform on the probability simplex (for random scalarisations). */
  simplex(dim: number): number[] {
    const e = Array.from({ length: dim }, () => -Math.log(1 - this.uniform()));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / sum);
  }
}
