/** Registry of every merge method, keyed by its mergekit `merge_method` name. */
import { MergeStudioError } from '../errors.ts';
import type { MergeMethod } from './types.ts';
import { arceeFusion } from './arcee-fusion.ts';
import { breadcrumbs } from './breadcrumbs.ts';
import { breadcrumbsTies } from './breadcrumbs-ties.ts';
import { dareLinear } from './dare-linear.ts';
import { dareTies } from './dare-ties.ts';
import { della } from './della.ts';
import { dellaLinear } from './della-linear.ts';
import { karcher } from './karcher.ts';
import { linear } from './linear.ts';
import { modelStock } from './model-stock.ts';
import { multislerp } from './multislerp.ts';
import { nearswap } from './nearswap.ts';
import { nuslerp } from './nuslerp.ts';
import { passthrough } from './passthrough.ts';
import { ram } from './ram.ts';
import { ramplusTl } from './ramplus-tl.ts';
import { sce } from './sce.ts';
import { slerp } from './slerp.ts';
import { taskArithmetic } from './task-arithmetic.ts';
import { ties } from './ties.ts';
import { closestName } from '../recipe/suggest.ts';

export type { MergeMethod, MergeTensorInput, ParamSpec, ParamValue } from './types.ts';

export const METHODS: Record<string, MergeMethod> = Object.fromEntries(
  [
    linear, taskArithmetic, ties, dareTies, dareLinear, breadcrumbs, breadcrumbsTies, della, dellaLinear,
    slerp, nuslerp, multislerp, karcher, modelStock, nearswap, sce, arceeFusion, ram, ramplusTl, passthrough,
  ].map((m) => [m.name, m]),
);

/** The valid method name closest to `name` (case-insensitive edit distance). */
export function closestMethodName(name: string): string {
  return closestName(name, Object.keys(METHODS)) ?? '';
}

/** Looks a method up by its mergekit name; an unknown name is an error suggesting the closest one. */
export function getMethod(name: string): MergeMethod {
  const method = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined;
  if (method) return method;
  const suggestion = closestMethodName(name);
  throw new MergeStudioError('unknown-method', `unknown merge_method '${name}'; did you mean '${suggestion}'? Valid: ${Object.keys(METHODS).join(', ')}`, {
    name,
    suggestion,
    valid: Object.keys(METHODS),
  });
}
