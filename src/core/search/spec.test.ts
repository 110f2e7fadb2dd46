import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSpace } from './spaces.ts';
import { parseSearchSpec } from './spec.ts';

const SPEC = `
base_model: zoo/tiny-llama/base
models: [zoo/tiny-llama/add, { model: zoo/tiny-llama/reverse }]
space: { kind: layerwise, methods: [ties, task_arithmetic], block_size: 2, ranges: { weight: [0, 1.5] } }
objectives:
  - add.exact_match
  - { name: reverse.perplexity, ref: 40 }
tasks: zoo/tasks
limit: 90
fidelity: { levels: [0.111, 0.333, 1], eta: 3, mode: successive-halving }
optimizer: { kind: nsga2, population: 12 }
budget: { cost: 30 }
seed: 7
`;

describe('search spec', () => {
  it('parses a full spec, inferring directions from metric names', () => {
    expect(parseSearchSpec(SPEC)).toEqual({
      base: 'zoo/tiny-llama/base',
      experts: ['zoo/tiny-llama/add', 'zoo/tiny-llama/reverse'],
      space: { kind: 'layerwise', methods: ['ties', 'task_arithmetic'], blockSize: 2, ranges: { weight: [0, 1.5] } },
      objectives: [
        { name: 'add.exact_match', direction: 'max' },
        { name: 'reverse.perplexity', direction: 'min', ref: 40 },
      ],
      tasks: 'zoo/tasks',
      limit: 90,
      fidelity: { levels: [0.111, 0.333, 1], eta: 3, mode: 'successive-halving' },
      optimizer: { kind: 'nsga2', population: 12 },
      budget: { cost: 30 },
      seed: 7,
    });
  });

  it('names the file and the key in errors, with suggestions', () => {
    const bad = (text: string) => () => parseSearchSpec(text, 'spec.yml');
    expect(bad(SPEC.replace('budget:', 'budgett:'))).toThrow(/spec.yml: unknown key 'budgett'; did you mean 'budget'\?/);
    expect(bad(SPEC.replace('block_size: 2', 'blocksize: 2'))).toThrow(/unknown key 'space.blocksize'; did you mean 'block_size'/);
    expect(bad(SPEC.replace('kind: nsga2', 'kind: nsga'))).toThrow(/optimizer.kind must be one of .* found "nsga"; did you mean 'nsga2'/);
    expect(bad(SPEC.replace('limit: 90', 'limit: -1'))).toThrow(/limit must be a positive integer, found -1/);
    expect(bad(SPEC.replace('[0, 1.5]', '[2, 1]'))).toThrow(/space.ranges.weight must be \[low, high\]/);
    expect(bad('models: [a]: b')).toThrow(MergeStudioError);
  });

  it('refuses ranges outside a method parameter\'s domain at the spec check, naming the file, line and key', () => {
    const text = SPEC.replace('ranges: { weight: [0, 1.5] }', 'ranges: { weight: [0, 1.5], density: [-1, -0.5] }');
    expect(() => parseSearchSpec(text, 'spec.yml')).toThrow(
      new MergeStudioError('search-spec', "spec.yml: line 4: space.ranges.density [-1, -0.5] lies outside ties's 'density' domain [0, 1]; every value the search tries must be valid"),
    );
    const slerp = SPEC.replace(/space: .*\n/, 'space:\n  kind: global\n  methods: [slerp]\n  ranges:\n    t: [0.5, 2]\n');
    expect(() => parseSearchSpec(slerp, 'spec.yml')).toThrow("spec.yml: line 8: space.ranges.t [0.5, 2] lies outside slerp's 't' domain [0, 1]");
    expect(() => parseSearchSpec(SPEC.replace('methods: [ties, task_arithmetic]', 'methods: [ties, task_arithmetc]'), 'spec.yml')).toThrow(
      "spec.yml: space.methods[1]: 'task_arithmetc' is not a method the search space can tune; did you mean 'task_arithmetic'? (valid: linear, task_arithmetic, ties, dare_ties, slerp)",
    );
  });

  it('the example specs shipped for the README parse and build their spaces', () => {
    const dir = 'src/core/search/examples';
    const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) {
      const spec = parseSearchSpec(readFileSync(join(dir, f), 'utf8'), f);
      const space = createSpace(spec.space, { base: spec.base, experts: spec.experts, numLayers: 4 });
      expect(space.dimensions.length).toBeGreaterThan(0);
    }
  });
});
