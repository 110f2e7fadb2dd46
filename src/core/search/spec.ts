import { LineCounter, parseDocument, type Node } from 'yaml';
import { MergeStudioError } from '../errors.ts';
import { getMethod } from '../methods/index.ts';
import { didYouMean } from '../recipe/suggest.ts';
import { tooDeepLine, tooDeepMessage } from '../recipe/yaml-depth.ts';
import type { ObjectiveSpec } from './objectives.ts';
import type { OptimizerKind, OptimizerSpec } from './optimizer.ts';
import { OPTIMIZER_KINDS } from './optimizers.ts';
import type { SearchConfig } from './run.ts';
import type { FidelitySchedule } from './schedule.ts';
import { SPACE_METHODS, type ParameterRanges, type SpaceMethod, type SpaceSpec } from './spaces.ts';

/** A search as written in SPEC.yml (`merge-studio search`) or set in the studio's search panel. */
export interface SearchSpec extends SearchConfig {
  base: string;
  experts: string[];
  space: SpaceSpec;
  /** Folder of task files `<task>.{gen,mc,ppl}.jsonl` (relative to the spec file). */
  tasks?: string;
  /** Examples per task at full fidelity (default: all of them). */
  limit?: number;
}

const TOP_KEYS = ['base_model', 'models', 'space', 'objectives', 'tasks', 'limit', 'fidelity', 'optimizer', 'budget', 'seed'];
const SPACE_KEYS = ['kind', 'methods', 'block_size', 'max_layers', 'ranges'];
const RANGE_KEYS = ['weight', 'density', 'lambda', 't', 'scale'];

type Obj = Record<string, unknown>;

function fail(where: string, message: string): never {
  throw new MergeStudioError('search-spec', `${where}${message}`);
}

function object(v: unknown, path: string, where: string, keys: string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, `${path || 'the spec'} must be a mapping, found ${JSON.stringify(v)}`);
  for (const k of Object.keys(v as Obj)) {
    if (!keys.includes(k)) fail(where, `unknown key '${path ? `${path}.` : ''}${k}'${didYouMean(k, keys)} (valid: ${keys.join(', ')})`);
  }
  return v as Obj;
}

function number(v: unknown, path: string, where: string, check: (n: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || !check(v)) fail(where, `${path} must be ${expected}, found ${JSON.stringify(v)}`);
  return v;
}

function string(v: unknown, path: string, where: string): string {
  if (typeof v !== 'string' || v === '') fail(where, `${path} must be a non-empty string, found ${JSON.stringify(v)}`);
  return v;
}

/** Metrics where lower is better; everything else (accuracies, exact match) is maximised. */
const MINIMISED_METRIC = /(perplexity|ppl|loss|nll)\)?$/;

function parseObjective(v: unknown, i: number, where: string): ObjectiveSpec {
  const path = `objectives[${i}]`;
  if (typeof v === 'string') v = { name: v };
  const o = object(v, path, where, ['name', 'direction', 'ref']);
  const name = string(o.name, `${path}.name`, where);
  const direction = o.direction ?? (MINIMISED_METRIC.test(name) ? 'min' : 'max');
  if (direction !== 'max' && direction !== 'min') fail(where, `${path}.direction must be max or min, found ${JSON.stringify(direction)}`);
  const out: ObjectiveSpec = { name, direction };
  if (o.ref !== undefined) out.ref = number(o.ref, `${path}.ref`, where, Number.isFinite, 'a number');
  return out;
}

function parseRanges(v: unknown, where: string): ParameterRanges {
  const o = object(v, 'space.ranges', where, RANGE_KEYS);
  const out: ParameterRanges = {};
  for (const [k, r] of Object.entries(o)) {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isFinite(x)) || r[0] > r[1]) {
      fail(where, `space.ranges.${k} must be [low, high] with low <= high, found ${JSON.stringify(r)}`);
    }
    out[k as keyof ParameterRanges] = [r[0], r[1]];
  }
  return out;
}

function parseSpace(v: unknown, where: string): SpaceSpec {
  const o = object(v, 'space', where, SPACE_KEYS);
  const ranges = o.ranges === undefined ? undefined : parseRanges(o.ranges, where);
  const methods = () => {
    const m = o.methods ?? ['task_arithmetic'];
    if (!Array.isArray(m) || m.length === 0) fail(where, `space.methods must be a non-empty list, found ${JSON.stringify(m)}`);
    m.forEach((name, i) => {
      if (!SPACE_METHODS.includes(name as SpaceMethod)) {
        fail(where, `space.methods[${i}]: '${String(name)}' is not a method the search space can tune${typeof name === 'string' ? didYouMean(name, SPACE_METHODS) : ''} (valid: ${SPACE_METHODS.join(', ')})`);
      }
    });
    return m as SpaceMethod[];
  };
  switch (o.kind) {
    case 'global':
      return { kind: 'global', methods: methods(), ranges };
    case 'layerwise':
      return {
        kind: 'layerwise',
        methods: methods(),
        blockSize: number(o.block_size ?? 1, 'space.block_size', where, (n) => Number.isInteger(n) && n >= 1, 'a positive integer'),
        ranges,
      };
    case 'depthwise':
      return {
        kind: 'depthwise',
        maxLayers: o.max_layers === undefined ? undefined : number(o.max_layers, 'space.max_layers', where, Number.isInteger, 'an integer'),
        ranges,
      };
    default:
      fail(where, `space.kind must be global, layerwise or depthwise, found ${JSON.stringify(o.kind)}`);
  }
}

/** Every range must lie inside the domain of the parameter in each method that takes it (a
 * density below 0 would only fail at the first trial, naming a recipe's model instead of the spec). */
function checkRangeDomains(space: SpaceSpec, where: string, lineAt: (path: (string | number)[]) => string): void {
  const methods: string[] = space.kind === 'depthwise' ? ['passthrough'] : space.methods;
  for (const [key, range] of Object.entries(space.ranges ?? {})) {
    if (!range) continue;
    for (const name of methods) {
      const spec = getMethod(name).params.find((p) => p.name === key);
      if (!spec) continue;
      const low = spec.min ?? -Infinity;
      const high = spec.max ?? Infinity;
      if (range[0] < low || range[1] > high) {
        fail(where, `${lineAt(['space', 'ranges', key])}space.ranges.${key} [${range[0]}, ${range[1]}] lies outside ${name}'s '${key}' domain [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]; every value the search tries must be valid`);
      }
    }
  }
}

function parseOptimizer(v: unknown, where: string): OptimizerSpec {
  if (typeof v === 'string') v = { kind: v };
  const o = object(v, 'optimizer', where, ['kind', 'population', 'sigma', 'initial_design', 'random_fraction']);
  if (!OPTIMIZER_KINDS.includes(o.kind as OptimizerKind)) {
    fail(where, `optimizer.kind must be one of ${OPTIMIZER_KINDS.join(', ')}, found ${JSON.stringify(o.kind)}${typeof o.kind === 'string' ? didYouMean(o.kind, OPTIMIZER_KINDS) : ''}`);
  }
  const spec: OptimizerSpec = { kind: o.kind as OptimizerKind };
  if (o.population !== undefined) spec.population = number(o.population, 'optimizer.population', where, (n) => Number.isInteger(n) && n >= 4, 'an integer >= 4');
  if (o.sigma !== undefined) spec.sigma = number(o.sigma, 'optimizer.sigma', where, (n) => n > 0, 'a positive number');
  if (o.initial_design !== undefined) spec.initialDesign = number(o.initial_design, 'optimizer.initial_design', where, (n) => Number.isInteger(n) && n >= 2, 'an integer >= 2');
  if (o.random_fraction !== undefined) spec.randomFraction = number(o.random_fraction, 'optimizer.random_fraction', where, (n) => n >= 0 && n <= 1, 'a fraction in [0, 1]');
  return spec;
}

/** Parses and checks a search spec (YAML text); errors name the file and the key. */
export function parseSearchSpec(text: string, source = 'search spec'): SearchSpec {
  const where = `${source}: `;
  const deep = tooDeepLine(text);
  if (deep !== undefined) fail(where, tooDeepMessage(deep));
  const lines = new LineCounter();
  let raw: unknown;
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  try {
    if (doc.errors.length > 0) throw doc.errors[0];
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const pos = (err as { pos?: [number, number] }).pos;
    fail(where, `${pos ? `line ${lines.linePos(pos[0]).line}: ` : ''}not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  /** "line N: " of the node at a path of the spec, or nothing when it has no position. */
  const lineAt = (path: (string | number)[]): string => {
    const node = doc.getIn(path, true) as Node | undefined;
    return node && typeof node === 'object' && node.range ? `line ${lines.linePos(node.range[0]).line}: ` : '';
  };
  const o = object(raw, '', where, TOP_KEYS);
  const base = string(o.base_model, 'base_model', where);
  if (!Array.isArray(o.models) || o.models.length === 0) fail(where, `models must list the expert models to merge, found ${JSON.stringify(o.models)}`);
  const experts = o.models.map((m, i) => string(typeof m === 'object' && m !== null ? (m as Obj).model : m, `models[${i}]`, where));
  if (!Array.isArray(o.objectives) || o.objectives.length === 0) fail(where, 'objectives must list at least one metric, e.g. add.exact_match');
  const objectives = o.objectives.map((v, i) => parseObjective(v, i, where));
  const fidelityRaw = object(o.fidelity ?? { levels: [1] }, 'fidelity', where, ['levels', 'eta', 'mode']);
  const fidelity: FidelitySchedule = { levels: fidelityRaw.levels as number[] };
  if (fidelityRaw.eta !== undefined) fidelity.eta = fidelityRaw.eta as number;
  if (fidelityRaw.mode !== undefined) fidelity.mode = fidelityRaw.mode as FidelitySchedule['mode'];
  const budgetRaw = object(o.budget, 'budget', where, ['trials', 'cost']);
  const budget: SearchConfig['budget'] = {};
  if (budgetRaw.trials !== undefined) budget.trials = number(budgetRaw.trials, 'budget.trials', where, (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  if (budgetRaw.cost !== undefined) budget.cost = number(budgetRaw.cost, 'budget.cost', where, (n) => n > 0, 'a positive number of full evaluations');
  const spec: SearchSpec = {
    base,
    experts,
    space: parseSpace(o.space ?? { kind: 'global' }, where),
    objectives,
    optimizer: parseOptimizer(o.optimizer ?? 'forest', where),
    fidelity,
    budget,
    seed: number(o.seed ?? 0, 'seed', where, Number.isInteger, 'an integer'),
  };
  checkRangeDomains(spec.space, where, lineAt);
  if (o.tasks !== undefined) spec.tasks = string(o.tasks, 'tasks', where);
  if (o.limit !== undefined) spec.limit = number(o.limit, 'limit', where, (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  return spec;
}
