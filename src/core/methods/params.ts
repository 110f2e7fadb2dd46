/** Reading a method's resolved parameters and checking its inputs, with errors that name the
 * method, tensor, parameter and model. Defaults come from the method's own schema. */
import { MergeStudioError } from '../errors.ts';
import type { MergeTensorInput, ParamSpec, ParamValue } from './types.ts';

export interface MethodContext {
  method: string;
  params: ParamSpec[];
  input: MergeTensorInput;
}

function specOf(ctx: MethodContext, name: string, scope: ParamSpec['scope']): ParamSpec {
  const spec = ctx.params.find((p) => p.name === name && p.scope === scope);
  if (!spec) throw new Error(`${ctx.method}: no ${scope} parameter '${name}' in its schema`);
  return spec;
}

function checked(ctx: MethodContext, spec: ParamSpec, value: ParamValue | undefined, where: string): ParamValue | undefined {
  const at = `${ctx.method}: parameter '${spec.name}'${where} for tensor '${ctx.input.tensorName}'`;
  if (value === undefined || value === null) {
    if (spec.required) throw new MergeStudioError('missing-parameter', `${at} is required but was not given`, { method: ctx.method, parameter: spec.name });
    return spec.default;
  }
  if (spec.kind === 'boolean') {
    if (typeof value !== 'boolean') throw new MergeStudioError('invalid-parameter', `${at} must be true or false, found ${JSON.stringify(value)}`, { method: ctx.method, parameter: spec.name, value });
    return value;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new MergeStudioError('invalid-parameter', `${at} must be a finite number, found ${JSON.stringify(value)}`, { method: ctx.method, parameter: spec.name, value });
  }
  if (spec.kind === 'integer' && !Number.isInteger(value)) {
    throw new MergeStudioError('invalid-parameter', `${at} must be an integer, found ${value}`, { method: ctx.method, parameter: spec.name, value });
  }
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
    throw new MergeStudioError('invalid-parameter', `${at} must lie in [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}], found ${value}`, { method: ctx.method, parameter: spec.name, value });
  }
  return value;
}

export function globalNumber(ctx: MethodContext, name: string): number {
  return checked(ctx, specOf(ctx, name, 'global'), ctx.input.global[name], '') as number;
}

export function globalBoolean(ctx: MethodContext, name: string): boolean {
  return checked(ctx, specOf(ctx, name, 'global'), ctx.input.global[name], '') as boolean;
}

/** A per-model number; undefined only for an optional parameter without default. */
export function modelNumberOrUndefined(ctx: MethodContext, modelPosition: number, name: string): number | undefined {
  const where = ` of model #${ctx.input.modelIndices[modelPosition] ?? modelPosition}`;
  return checked(ctx, specOf(ctx, name, 'model'), ctx.input.modelParams[modelPosition]?.[name], where) as number | undefined;
}

export function modelNumbers(ctx: MethodContext, name: string): number[] {
  return ctx.input.models.map((_, i) => modelNumberOrUndefined(ctx, i, name) as number);
}

/** Element count of a shape. */
export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export interface InputRules {
  base: 'required' | 'optional' | 'none';
  minModels: number;
  maxModels?: number;
  /** The input's arrays are placeholders (mergeChunks): their lengths are not checked. */
  placeholders?: boolean;
}

/** Checks model count, base presence and that every array matches the tensor shape. */
export function checkInputs(ctx: MethodContext, rules: InputRules): number {
  const { input, method } = ctx;
  const n = elementCount(input.shape);
  const count = input.models.length;
  const tensor = `tensor '${input.tensorName}'`;
  if (count < rules.minModels || (rules.maxModels !== undefined && count > rules.maxModels)) {
    const expected = rules.maxModels === rules.minModels ? `exactly ${rules.minModels}` : rules.maxModels === undefined ? `at least ${rules.minModels}` : `${rules.minModels} to ${rules.maxModels}`;
    throw new MergeStudioError('model-count', `${method} merges ${expected} non-base model(s); ${tensor} has ${count}`, { method, tensor: input.tensorName, count });
  }
  if (rules.base === 'required' && !input.base) {
    throw new MergeStudioError('missing-base', `${method} needs a base_model; none was given for ${tensor}`, { method, tensor: input.tensorName });
  }
  if (input.modelParams.length !== count || input.modelIndices.length !== count) {
    throw new MergeStudioError('invalid-input', `${method}: ${tensor} has ${count} models but ${input.modelParams.length} parameter sets and ${input.modelIndices.length} model indices`, { method, tensor: input.tensorName });
  }
  // A chunked merge's arrays are placeholders: the chunks come later, whole rows of this shape.
  if (rules.placeholders) return n;
  input.models.forEach((m, i) => {
    if (m.length !== n) {
      throw new MergeStudioError('shape-mismatch', `${method}: ${tensor} of model #${input.modelIndices[i]} has ${m.length} elements, expected ${n} for shape [${input.shape.join(', ')}]`, { method, tensor: input.tensorName });
    }
  });
  if (input.base && input.base.length !== n) {
    throw new MergeStudioError('shape-mismatch', `${method}: ${tensor} of the base model has ${input.base.length} elements, expected ${n} for shape [${input.shape.join(', ')}]`, { method, tensor: input.tensorName });
  }
  return n;
}

/** The caller's preallocated output when given (it saves a fresh allocation per tensor), else a new one. */
export function outputArray(ctx: MethodContext, n: number): Float32Array {
  const out = ctx.input.out;
  if (!out) return new Float32Array(n);
  if (out.length !== n) {
    throw new MergeStudioError('shape-mismatch', `${ctx.method}: the output buffer for tensor '${ctx.input.tensorName}' has ${out.length} elements, expected ${n}`, { method: ctx.method, tensor: ctx.input.tensorName });
  }
  if (out === ctx.input.base || ctx.input.models.includes(out)) {
    throw new MergeStudioError('invalid-input', `${ctx.method}: the output buffer for tensor '${ctx.input.tensorName}' must not be one of the inputs`, { method: ctx.method, tensor: ctx.input.tensorName });
  }
  return out;
}

export function copyInto(out: Float32Array, source: Float32Array): Float32Array {
  out.set(source);
  return out;
}
