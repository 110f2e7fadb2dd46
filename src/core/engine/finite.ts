// The finite-output check: every merged chunk is scanned for NaN and ±Inf before it is written or
// handed to the evaluator, so an overflowing recipe (task_arithmetic with weight 1e308) or an input
// that already holds NaN never ends up as a model that looks fine. The scan reads the stored words
// of the output (float32, bfloat16 or float16), so values that overflow only when encoded (a
// finite float32 above float16's 65504) are caught too. It is branch-free: each word's exponent
// field plus one carries into the sign bit exactly when the field is all ones (Inf or NaN), and the
// words' results are OR-ed together and tested once per chunk.
import { decodeToF32, dtypeBits, type DType } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import type { ParamValue } from '../methods/types.ts';
import { readTensorBytes } from '../safetensors/index.ts';
import type { PlanInput, PlanStep } from './plan.ts';

/** Whether every value in `bytes` (little-endian words of `dtype`) is finite. Dtypes that are
 * not floating point are finite by definition. */
export function bytesAreFinite(bytes: Uint8Array, dtype: DType): boolean {
  const size = dtypeBits(dtype) / 8;
  if (dtype !== 'F32' && dtype !== 'BF16' && dtype !== 'F16') return true;
  const count = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % 4 !== 0 || !(bytes.buffer instanceof ArrayBuffer)) return slowFinite(bytes, dtype, count);
  if (dtype === 'F32') return wordsFinite(new Int32Array(bytes.buffer, bytes.byteOffset, count), F32_MASK, F32_ONE, F32_SIGN);
  // Two 16-bit words per 32-bit word; an odd last word is checked on its own.
  const pairs = count >> 1;
  const ok = dtype === 'BF16'
    ? wordsFinite(new Int32Array(bytes.buffer, bytes.byteOffset, pairs), BF16_MASK, BF16_ONE, PAIR_SIGN)
    : wordsFinite(new Int32Array(bytes.buffer, bytes.byteOffset, pairs), F16_MASK, F16_ONE, PAIR_SIGN);
  return ok && (count % 2 === 0 || slowFinite(bytes.subarray(pairs * 4), dtype, 1));
}

// The exponent fields shifted right by one, so every sum stays a small int32 (V8 keeps the loop
// in integer registers): field + one reaches the `sign` bit exactly when the field is all ones.
const F32_MASK = 0x7f800000 >> 1;
const F32_ONE = 0x00800000 >> 1;
const F32_SIGN = 0x40000000;
const BF16_MASK = 0x7f807f80 >> 1;
const BF16_ONE = 0x00800080 >> 1;
const F16_MASK = 0x7c007c00 >> 1;
const F16_ONE = 0x04000400 >> 1;
const PAIR_SIGN = 0x40004000;

function wordsFinite(words: Int32Array, mask: number, one: number, sign: number): boolean {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const n = words.length;
  const end = n - (n % 4);
  for (let i = 0; i < end; i += 4) {
    a |= ((words[i] >> 1) & mask) + one;
    b |= ((words[i + 1] >> 1) & mask) + one;
    c |= ((words[i + 2] >> 1) & mask) + one;
    d |= ((words[i + 3] >> 1) & mask) + one;
  }
  for (let i = end; i < n; i++) a |= ((words[i] >> 1) & mask) + one;
  return ((a | b | c | d) & sign) === 0;
}

function slowFinite(bytes: Uint8Array, dtype: DType, count: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    if (dtype === 'F32' ? (view.getUint32(i * 4, true) & 0x7f800000) === 0x7f800000 : (view.getUint16(i * 2, true) & (dtype === 'BF16' ? 0x7f80 : 0x7c00)) === (dtype === 'BF16' ? 0x7f80 : 0x7c00)) return false;
  }
  return true;
}

/** Whether every value of a float32 array is finite. */
export function valuesAreFinite(values: Float32Array): boolean {
  return wordsFinite(new Int32Array(values.buffer, values.byteOffset, values.length), F32_MASK, F32_ONE, F32_SIGN);
}

/** How many values are not finite, and the first one (index and value). */
function countNonFinite(values: Float32Array): { count: number; first: number; value: number } {
  let count = 0;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      count++;
      if (first < 0) first = i;
    }
  }
  return { count, first, value: first >= 0 ? values[first] : 0 };
}

function percent(count: number, total: number): string {
  const p = (100 * count) / total;
  return p >= 1 ? `${Math.round(p)}%` : p > 0 && p < 0.01 ? '<0.01%' : `${p.toFixed(2)}%`;
}

const DTYPE_NAMES: Partial<Record<DType, string>> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

/** The numeric parameter of largest magnitude among the step's settings, as "weight 1e+308 on
 * model 'x'", or the global one; undefined when the method takes no numbers. */
function largestParameter(step: PlanStep): string | undefined {
  let best: { text: string; size: number } | undefined;
  const consider = (name: string, v: ParamValue, where: string) => {
    if (typeof v !== 'number') return;
    const size = Math.abs(v);
    if (!best || size > best.size) best = { text: `${step.method} ${name} ${v}${where}`, size };
  };
  step.models.forEach((m, i) => {
    for (const [name, v] of Object.entries(step.modelParams[i] ?? {})) consider(name, v, ` on model '${m.model}'`);
  });
  for (const [name, v] of Object.entries(step.global)) consider(name, v, '');
  return best?.text;
}

/** Reads each input of a step and names the first that holds non-finite values. */
async function nonFiniteInput(step: PlanStep, signal?: AbortSignal): Promise<string | undefined> {
  const inputs: PlanInput[] = [...step.models, ...(step.base ? [step.base] : [])];
  for (const input of inputs) {
    const bytes = await readTensorBytes(input.info, signal);
    if (bytesAreFinite(bytes, input.info.dtype)) continue;
    const values = decodeToF32(bytes, input.info.dtype);
    const { count, first, value } = countNonFinite(values);
    return `the input tensor '${input.tensor}' of model '${input.model}' (${input.info.file}) already holds ${count} non-finite value(s) of ${values.length} (first: element ${first} = ${value})`;
  }
  return undefined;
}

/** The error for a step whose output is not finite: which tensor, how much, and why (an input
 * that already holds NaN/Inf, else the parameter of largest magnitude, or the output dtype's
 * range). `output` is the whole output (float32 values or encoded words) when the caller has it. */
export async function nonFiniteError(step: PlanStep, outDType: DType, output?: Float32Array | Uint8Array, signal?: AbortSignal): Promise<MergeStudioError> {
  const merged = output instanceof Uint8Array ? decodeToF32(output, outDType) : output;
  const stats = merged ? countNonFinite(merged) : undefined;
  const how = stats && stats.count > 0
    ? `${stats.count} of ${merged!.length} merged values (${percent(stats.count, merged!.length)}) are NaN or infinite (first: element ${stats.first} = ${stats.value})`
    : `the merged values are NaN or infinite${outDType !== 'F32' ? ` as ${DTYPE_NAMES[outDType] ?? outDType}` : ''}`;
  const input = await nonFiniteInput(step, signal).catch(() => undefined);
  let cause: string;
  if (input) cause = `cause: ${input}`;
  else {
    const param = largestParameter(step);
    const range = outDType === 'F16' ? '; float16 tops out at 65504, so larger values overflow when written (use dtype: bfloat16 or float32)' : '';
    cause = param ? `the inputs are finite, so the recipe's parameters overflowed: check ${param}${range}` : `the inputs are finite${range}`;
  }
  return new MergeStudioError(
    'merge-non-finite',
    `tensor '${step.output}': ${how}; ${cause}; nothing was written (allow non-finite values knowingly with --allow-non-finite, or the engine option allowNonFinite)`,
    { tensor: step.output, method: step.method, input },
  );
}
