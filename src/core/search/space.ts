/** A search space maps points of the unit cube (what optimizers see) to named values and to the
 * recipe they describe. Real dimensions scale linearly; a choice dimension splits [0,1) into equal
 * parts, so every optimizer handles both without knowing the difference. */

export type DimensionValue = number | string;

export type Dimension =
  | { name: string; kind: 'real'; low: number; high: number }
  | { name: string; kind: 'choice'; choices: readonly string[] };

export interface DecodedCandidate<R> {
  values: Record<string, DimensionValue>;
  recipe: R;
}

export interface SearchSpace<R = unknown> {
  /** 'global' | 'layerwise' | 'depthwise' */
  readonly kind: string;
  readonly dimensions: readonly Dimension[];
  decode(x: readonly number[]): DecodedCandidate<R>;
}

export function decodeDimension(d: Dimension, u: number): DimensionValue {
  const v = u < 0 ? 0 : u > 1 ? 1 : u;
  if (d.kind === 'real') return d.low + v * (d.high - d.low);
  return d.choices[Math.min(d.choices.length - 1, Math.floor(v * d.choices.length))];
}

export function decodeAll(dimensions: readonly Dimension[], x: readonly number[]): Record<string, DimensionValue> {
  const values: Record<string, DimensionValue> = {};
  dimensions.forEach((d, i) => (values[d.name] = decodeDimension(d, x[i])));
  return values;
}
