// SPEC.yml of `merge-studio dam`: the example specs parse to the settings they state, and bad
// specs are refused with the file, the key and what was found.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDamSpec } from './spec.ts';

describe('DAM spec', () => {
  it('parses the example specs', () => {
    const dir = 'src/core/dam/examples';
    const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const spec = parseDamSpec(readFileSync(join(dir, f), 'utf8'), f);
      expect(spec.experts.length).toBeGreaterThanOrEqual(2);
      for (const e of spec.experts) expect(e.data.every((d) => d.endsWith('.jsonl'))).toBe(true);
      expect(spec.train).toMatchObject({ steps: 150, learningRate: 0.01, batchSize: 8, temperature: 2, similarity: 0.01, seed: 0 });
    }
  });

  it('fills the issue defaults (T = 2, lambda = 0.01, lr 1e-3) and takes one data path as a list', () => {
    const spec = parseDamSpec('models:\n  - {model: a, data: a.jsonl}\n  - {model: b, data: [b1.jsonl, b2.jsonl]}\ntrain_norms: true\n');
    expect(spec.experts).toEqual([{ model: 'a', data: ['a.jsonl'] }, { model: 'b', data: ['b1.jsonl', 'b2.jsonl'] }]);
    expect(spec.train).toMatchObject({ temperature: 2, similarity: 0.01, learningRate: 1e-3, l1: 0, l2: 0 });
    expect(spec.scope).toEqual({ norms: true, embeddings: false });
  });

  it('refuses bad specs by name', () => {
    const two = 'models:\n  - {model: a, data: a.jsonl}\n  - {model: b, data: b.jsonl}\n';
    expect(() => parseDamSpec(`${two}temprature: 2\n`, 's.yml')).toThrow(/s\.yml: unknown key 'temprature'; did you mean 'temperature'\?/);
    expect(() => parseDamSpec('models:\n  - {model: a, data: a.jsonl}\n', 's.yml')).toThrow(/'models' must list at least two experts/);
    expect(() => parseDamSpec(`${two}lr: -0.1\n`, 's.yml')).toThrow(/'lr' must be a positive number, found -0.1/);
    expect(() => parseDamSpec(`${two}steps: 1.5\n`, 's.yml')).toThrow(/'steps' must be a positive integer/);
    expect(() => parseDamSpec(`${two}dtype: int8\n`, 's.yml')).toThrow(/'dtype' must be one of/);
    expect(() => parseDamSpec('models:\n  - {model: a}\n  - {model: b, data: b.jsonl}\n', 's.yml')).toThrow(/'models\[0\]\.data' must name the expert's task files/);
    expect(() => parseDamSpec('models: [a, b]\n', 's.yml')).toThrow(/models\[0\] must be a mapping/);
    expect(() => parseDamSpec('models: [\n', 's.yml')).toThrow(/s\.yml: not valid YAML/);
  });
});
