// Prompts and requests for a fixed document of each benchmark, byte for byte against the strings
// lm-eval's templates give: fixtures/expected-prompts.json is written by
// tools/benchmarks/lm_eval_prompts.py, which renders lm-eval's own YAML templates (quoted there)
// with Jinja2 set up as lm_eval/utils.py sets it up, and assembles contexts as lm_eval/api/task.py
// does; fixtures/docs.json holds the documents, in each dataset's real schema.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BENCHMARKS, type Doc } from './definitions.ts';
import { buildRequest } from './prompt.ts';

const fixtures = new URL('./fixtures/', import.meta.url);
const docs = JSON.parse(readFileSync(new URL('docs.json', fixtures), 'utf8')) as Record<string, { eval: Doc; fewshot: Doc[] }>;
const expected = JSON.parse(readFileSync(new URL('expected-prompts.json', fixtures), 'utf8')) as Record<string, { zero_shot: unknown; few_shot: unknown }>;

describe('benchmark prompts equal lm-eval templates', () => {
  for (const name of Object.keys(expected)) {
    it(`${name}: zero-shot and few-shot requests`, () => {
      const def = BENCHMARKS.get(name)!;
      expect(def, name).toBeDefined();
      // Generation requests also carry their document (for checks such as IFEval's); the prompt
      // parts are what lm-eval's templates give.
      const prompt = (r: ReturnType<typeof buildRequest>) => {
        if (r.kind !== 'generate_until') return r;
        const { doc, ...rest } = r;
        expect(doc).toEqual(docs[name].eval);
        return rest;
      };
      expect(prompt(buildRequest(def, docs[name].eval, []))).toEqual(expected[name].zero_shot);
      expect(prompt(buildRequest(def, docs[name].eval, docs[name].fewshot))).toEqual(expected[name].few_shot);
    });
  }

  it('covers every benchmark family', () => {
    const families = new Set(Object.keys(expected).map((n) => (n.startsWith('mmlu_') ? 'mmlu' : n)));
    expect([...families].sort()).toEqual(['arc_challenge', 'arc_easy', 'gsm8k', 'hellaswag', 'mmlu', 'piqa', 'winogrande']);
  });

  it('names the column when a document does not fit the schema', () => {
    expect(() => buildRequest(BENCHMARKS.get('piqa')!, { goal: 'x', sol1: 'a', label: 0 }, [])).toThrow("piqa: a document has no 'sol2' column (columns: goal, sol1, label)");
    expect(() => buildRequest(BENCHMARKS.get('arc_easy')!, { question: 'q', choices: { text: ['a', 'b'], label: ['A', 'B'] }, answerKey: 'E' }, [])).toThrow(
      `arc_easy: answerKey 'E' is not one of the choice labels ["A","B"]`,
    );
  });
});
