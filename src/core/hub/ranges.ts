// Sets of byte ranges [start, end): which parts of a remote file are already cached.

export type ByteRange = [start: number, end: number];

/** Adds [start, end) to a sorted, disjoint list, merging neighbours; returns a new list. */
export function addRange(ranges: readonly ByteRange[], start: number, end: number): ByteRange[] {
  if (end <= start) return ranges.slice();
  const out: ByteRange[] = [];
  let s = start;
  let e = end;
  let placed = false;
  for (const [a, b] of ranges) {
    if (b < s) out.push([a, b]);
    else if (a > e) {
      if (!placed) {
        out.push([s, e]);
        placed = true;
      }
      out.push([a, b]);
    } else {
      s = Math.min(s, a);
      e = Math.max(e, b);
    }
  }
  if (!placed) out.push([s, e]);
  return out;
}

/** The parts of [start, end) that no range covers. */
export function missingRanges(ranges: readonly ByteRange[], start: number, end: number): ByteRange[] {
  const out: ByteRange[] = [];
  let at = start;
  for (const [a, b] of ranges) {
    if (b <= at) continue;
    if (a >= end) break;
    if (a > at) out.push([at, Math.min(a, end)]);
    at = Math.max(at, b);
    if (at >= end) break;
  }
  if (at < end) out.push([at, end]);
  return out;
}

export function coveredBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((s, [a, b]) => s + (b - a), 0);
}

/** Parses a stored range list, dropping anything malformed (a damaged cache file means "refetch"). */
export function parseRanges(value: unknown, size: number): ByteRange[] {
  if (!Array.isArray(value)) return [];
  let out: ByteRange[] = [];
  for (const r of value) {
    if (Array.isArray(r) && r.length === 2 && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] >= 0 && r[1] <= size && r[0] < r[1]) {
      out = addRange(out, r[0], r[1]);
    }
  }
  return out;
}
