import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkIfEval, ifevalSupported, UNSUPPORTED_INSTRUCTIONS } from './ifeval.ts';

// Expected results computed by lm-eval's own lm_eval/tasks/ifeval/utils.py process_results
// (tools/benchmarks/ifeval_reference.py runs it unmodified on these cases).
const expected = JSON.parse(readFileSync(new URL('./fixtures/ifeval-expected.json', import.meta.url), 'utf8')) as {
  cases: { doc: Record<string, unknown>; response: string; strict: boolean[]; loose: boolean[]; prompt_strict: boolean; prompt_loose: boolean }[];
};

describe('IFEval instruction checks', () => {
  it('equal lm-eval process_results on every case (strict and loose, per instruction and per prompt)', () => {
    expect(expected.cases.length).toBeGreaterThan(50);
    const kinds = new Set<string>();
    for (const c of expected.cases) {
      const got = checkIfEval(c.doc, c.response);
      expect({ response: c.response, strict: got.strict, loose: got.loose }).toEqual({ response: c.response, strict: c.strict, loose: c.loose });
      expect(got.strict.every(Boolean)).toBe(c.prompt_strict);
      expect(got.loose.every(Boolean)).toBe(c.prompt_loose);
      for (const id of c.doc.instruction_id_list as string[]) kinds.add(id);
    }
    // Every instruction type lm-eval registers, except the five that need langdetect/nltk.
    expect(kinds.size).toBe(25 - UNSUPPORTED_INSTRUCTIONS.size);
  });

  it('prompts with langdetect/nltk instructions are not supported; unknown ids and bad kwargs are clear errors', () => {
    const doc = (ids: string[], kwargs: object[]) => ({ key: 1, prompt: 'p', instruction_id_list: ids, kwargs });
    expect(ifevalSupported(doc(['punctuation:no_comma'], [{}]))).toBe(true);
    expect(ifevalSupported(doc(['punctuation:no_comma', 'language:response_language'], [{}, { language: 'fr' }]))).toBe(false);
    expect(() => ifevalSupported(doc(['punctuation:semicolon'], [{}]))).toThrow(/ifeval: unknown instruction id 'punctuation:semicolon'/);
    expect(() => checkIfEval(doc(['keywords:frequency'], [{ keyword: 'x', relation: 'about' , frequency: 2 }]), 'x')).toThrow(/'relation' must be "less than" or "at least", found "about"/);
    expect(() => checkIfEval(doc(['punctuation:no_comma'], []), 'x')).toThrow(/'kwargs' must be a list of 1 objects/);
  });
});
