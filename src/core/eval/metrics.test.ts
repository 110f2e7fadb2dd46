// Metrics on hand-made cases: a bigram language model whose next-token probabilities are written
// down below, run through the shared KV-cache runtime code (continuations, greedy generation) and a
// real character-level tokenizer.json, so every expected number can be worked out by hand.
import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { parseCausalLMConfig } from './config.ts';
import { evaluateTask, sequenceWithAnswer } from './metrics.ts';
import { KvCachedLM, type WeightUpdate } from './runtime.ts';
import { itemOrder, parseTaskJsonl, subsetIndices, type EvalTask } from './tasks.ts';
import { tokenizerFromJson } from './tokenizer.ts';

const VOCAB = ['<unk>', '<s>', '</s>', 'a', 'b', '\n', 'c'];
const id = (t: string) => VOCAB.indexOf(t);
const TOKENIZER_JSON = {
  version: '1.0',
  added_tokens: VOCAB.slice(0, 3).map((content, i) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null, pre_tokenizer: null, post_processor: null, decoder: { type: 'Fuse' },
  model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: Object.fromEntries(VOCAB.map((t, i) => [t, i])), merges: [] },
};
// LlamaTokenizerFast rebuilds the post-processor from add_bos_token: BOS + text. The chat template
// writes the BOS itself and then the turns' contents (the assistant's answer after the prompt).
const TOKENIZER_CONFIG = {
  add_bos_token: true, bos_token: '<s>', eos_token: '</s>', tokenizer_class: 'LlamaTokenizerFast',
  chat_template: '{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}',
};
const tokenizer = tokenizerFromJson(TOKENIZER_JSON, TOKENIZER_CONFIG, 'bigram');

/** P(next | previous), by hand. Missing entries have probability ~0. */
const NEXT: Record<string, Record<string, number>> = {
  '<s>': { a: 0.5, b: 0.25, c: 0.25 },
  a: { b: 0.6, a: 0.2, '\n': 0.2 },
  b: { '\n': 0.7, c: 0.3 },
  c: { '</s>': 0.9, a: 0.1 },
  '\n': { a: 1 },
};

class BigramLM extends KvCachedLM {
  readonly backend = 'cpu' as const;
  constructor() {
    super(parseCausalLMConfig({ model_type: 'llama', hidden_size: 2, intermediate_size: 2, num_hidden_layers: 1, num_attention_heads: 1, vocab_size: VOCAB.length }, 'bigram/config.json'));
  }
  protected async forward(tokens: Int32Array, _pos0: number, fromRow: number): Promise<Float32Array> {
    const V = VOCAB.length;
    const out = new Float32Array((tokens.length - fromRow) * V).fill(Math.log(1e-12));
    for (let t = fromRow; t < tokens.length; t++) {
      for (const [next, p] of Object.entries(NEXT[VOCAB[tokens[t]]] ?? {})) out[(t - fromRow) * V + id(next)] = Math.log(p);
    }
    return out;
  }
  protected async replaceWeights(_t: ReadonlyMap<string, WeightUpdate>): Promise<void> {}
  dispose(): void {}
}
const lm = new BigramLM();

describe('exact match by greedy generation', () => {
  it('stops at a newline, at EOS and at the token limit, and compares the text before the stop', async () => {
    const task: EvalTask = {
      name: 'em', kind: 'exact_match',
      items: [
        { prompt: '', answer: 'ab' }, // <s> -> a (.5) -> b (.6) -> "\n" (.7): stop
        { prompt: 'c', answer: '' }, // c -> </s>: EOS at once
        { prompt: 'b', answer: 'x' }, // b -> "\n": empty text, wrong
        { prompt: 'a', answer: 'b' }, // a -> b -> "\n"
      ],
    };
    const r = await evaluateTask(lm, tokenizer, task, { maxNewTokens: 8 });
    expect(r.perItem.map((p) => p.output)).toEqual(['ab', '', '', 'b']);
    expect(r.metrics.exact_match).toBe(0.75);
    const short = await evaluateTask(lm, tokenizer, { ...task, items: [task.items[0]] }, { maxNewTokens: 1 });
    expect(short.perItem[0].output).toBe('a');
    expect(short.metrics.exact_match).toBe(0);
  });
});

describe('multiple choice by summed log-likelihood', () => {
  it('picks the likeliest choice, and the likeliest per character for accuracy_norm', async () => {
    const task: EvalTask = {
      name: 'mc', kind: 'multiple_choice',
      items: [
        // ab: log .5 + log .6 = -1.20 beats ac: log .5 + log 1e-12
        { prompt: '', choices: ['ac', 'ab'], label: 1 },
        // "c": log .25 = -1.386 beats "ab\n": -1.561 in total, but per character -0.520 beats -1.386
        { prompt: '', choices: ['c', 'ab\n'], label: 1 },
        // after the prompt "a": "b" (.6) beats "a" (.2)
        { prompt: 'a', choices: ['a', 'b'], label: 0 },
      ],
    };
    const r = await evaluateTask(lm, tokenizer, task);
    expect(r.perItem.map((p) => p.score)).toEqual([1, 0, 0]);
    expect(r.metrics.accuracy).toBeCloseTo(1 / 3, 12);
    expect(r.metrics.accuracy_norm).toBeCloseTo(2 / 3, 12);
  });

  it('scores exactly the choice tokens after BOS + prompt', async () => {
    const [lp] = await lm.continuationLogProbs(tokenizer.encodePrompt('a'), [Int32Array.from([id('b'), id('c')])]);
    expect(lp.length).toBe(2);
    expect(lp[0]).toBeCloseTo(Math.log(0.6), 6);
    expect(lp[1]).toBeCloseTo(Math.log(0.3), 6);
  });
});

describe('chat items', () => {
  const chat = (content: string) => [{ role: 'user', content }];
  it('score as the plain items whose text the template renders (its own BOS, no second one)', async () => {
    const plain: EvalTask = { name: 'mc', kind: 'multiple_choice', items: [{ prompt: '', choices: ['ac', 'ab'], label: 1 }, { prompt: 'a', choices: ['a', 'b'], label: 0 }] };
    const asChat: EvalTask = { ...plain, items: plain.items.map((i) => ({ ...i, prompt: chat(i.prompt as string) })) };
    const [p, c] = [await evaluateTask(lm, tokenizer, plain), await evaluateTask(lm, tokenizer, asChat)];
    expect(c.perItem).toEqual(p.perItem);
    expect(c.metrics).toEqual(p.metrics);
    const em: EvalTask = { name: 'em', kind: 'exact_match', items: [{ prompt: chat(''), answer: 'ab' }, { prompt: chat('a'), answer: 'b' }] };
    expect((await evaluateTask(lm, tokenizer, em, { maxNewTokens: 8 })).perItem.map((x) => x.output)).toEqual(['ab', 'b']);
    // DAM's training sequence: the answer as the assistant's turn, rendered without a generation prompt.
    expect(Array.from(sequenceWithAnswer(tokenizer, chat('a'), 'b'))).toEqual([id('<s>'), id('a'), id('b')]);
    expect(Array.from(sequenceWithAnswer(tokenizer, 'a', 'b'))).toEqual([id('<s>'), id('a'), id('b')]);
  });

  it('are read from JSONL with messages in place of prompt, and bad ones are named', () => {
    const t = parseTaskJsonl('{"messages":[{"role":"user","content":"hi"}],"choices":["a","b"],"label":0}', 'c.jsonl');
    expect(t).toEqual({ name: 'c', kind: 'multiple_choice', items: [{ prompt: [{ role: 'user', content: 'hi' }], choices: ['a', 'b'], label: 0 }] });
    expect(parseTaskJsonl('{"messages":[{"role":"user","content":"hi"}],"answer":"x"}', 'c.jsonl').kind).toBe('exact_match');
    expect(() => parseTaskJsonl('{"messages":[],"answer":"x"}', 'c.gen.jsonl')).toThrow(/c\.gen\.jsonl:1: 'messages' must be a non-empty list/);
    expect(() => parseTaskJsonl('{"messages":[{"content":"x"}],"answer":"x"}', 'c.gen.jsonl')).toThrow(/c\.gen\.jsonl:1: messages\[0\] must be an object with a string 'role'/);
    expect(() => parseTaskJsonl('{"prompt":"p","messages":[{"role":"user","content":"x"}],"answer":"x"}', 'c.gen.jsonl')).toThrow(/has both 'prompt' and 'messages'/);
  });
});

describe('perplexity over text', () => {
  it('is exp of the mean NLL over every token after BOS, pooled over items', async () => {
    const task: EvalTask = { name: 'ppl', kind: 'perplexity', items: [{ text: 'ab' }, { text: 'c' }] };
    const r = await evaluateTask(lm, tokenizer, task);
    const nll = -(Math.fround(Math.log(0.5)) + Math.fround(Math.log(0.6)) + Math.fround(Math.log(0.25)));
    expect(r.metrics.tokens).toBe(3);
    expect(r.metrics.perplexity).toBeCloseTo(Math.exp(nll / 3), 6);
    expect(Math.exp(nll / 3)).toBeCloseTo(Math.pow(0.5 * 0.6 * 0.25, -1 / 3), 6);
  });
});

describe('seeded nested subsets', () => {
  it('makes every smaller subset a prefix of a larger one, covering distinct items', () => {
    const order = Array.from(itemOrder(200, 7));
    expect(new Set(order).size).toBe(200);
    const small = subsetIndices(200, 20, 7), mid = subsetIndices(200, 66, 7);
    expect(mid.slice(0, 20)).toEqual(small);
    expect(order.slice(0, 66)).toEqual(mid);
    expect(subsetIndices(200, 20, 8)).not.toEqual(small);
    expect(subsetIndices(5, 10, 7)).toEqual([0, 1, 2, 3, 4]);
    // Not the identity: a prefix is a random sample, not the first lines of the file.
    expect(small).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('evaluates exactly the items of the seeded prefix', async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({ prompt: i % 2 ? 'a' : '', answer: 'ab' }));
    const r = await evaluateTask(lm, tokenizer, { name: 'em', kind: 'exact_match', items }, { limit: 9, seed: 3 });
    expect(r.perItem.map((p) => p.index)).toEqual(subsetIndices(30, 9, 3));
    const expected = subsetIndices(30, 9, 3).filter((i) => i % 2 === 0).length / 9;
    expect(r.metrics.exact_match).toBeCloseTo(expected, 12);
  });
});

describe('task files', () => {
  it('reads the kind from the file name or the first item', () => {
    expect(parseTaskJsonl('{"prompt":"1+1=","answer":"2"}\n\n', 'tasks/add.gen.jsonl')).toEqual({ name: 'add.gen', kind: 'exact_match', items: [{ prompt: '1+1=', answer: '2' }] });
    expect(parseTaskJsonl('{"text":"hello"}', 'x.jsonl').kind).toBe('perplexity');
    expect(parseTaskJsonl('{"prompt":"p","choices":["a","b"],"label":1}', 'x.jsonl').kind).toBe('multiple_choice');
  });

  it('names the file and line of a bad item', () => {
    const bad: [string, RegExp][] = [
      ['{"prompt":"p","answer":"a"}\n{"prompt":"p"}', /t\.gen\.jsonl:2: 'answer' must be a string/],
      ['{"prompt":"p","choices":["a","b"],"label":2}', /t\.mc\.jsonl:1: 'label' must be an integer in \[0, 2\), found 2/],
      ['{"prompt":"p","choices":["a"],"label":0}', /t\.mc\.jsonl:1: 'choices' must be an array of at least two/],
      ['not json', /t\.ppl\.jsonl:1: not valid JSON/],
      ['', /t\.gen\.jsonl: no items/],
    ];
    const files = ['t.gen.jsonl', 't.mc.jsonl', 't.mc.jsonl', 't.ppl.jsonl', 't.gen.jsonl'];
    bad.forEach(([text, re], i) => {
      let err: unknown;
      try { parseTaskJsonl(text, files[i]); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(MergeStudioError);
      expect((err as Error).message).toMatch(re);
    });
  });
});
