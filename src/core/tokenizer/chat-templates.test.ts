// The built-in chat templates render the formats they are named after (checked with @huggingface/jinja
// against the layouts written out by hand: ChatML, Llama 3 headers, Mistral [INST], Alpaca, EXAONE).
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { CHAT_TEMPLATES, looksLikeTemplate } from './chat-templates.ts';

const chat = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello' },
  { role: 'user', content: 'Sum 1+1' },
];
const render = (name: string, messages = chat, add_generation_prompt = true) =>
  new Template(CHAT_TEMPLATES[name]).render({ messages, add_generation_prompt, bos_token: '<s>', eos_token: '</s>' });

describe('built-in chat templates', () => {
  it('chatml', () => {
    expect(render('chatml')).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nSum 1+1<|im_end|>\n<|im_start|>assistant\n');
  });
  it('llama3', () => {
    expect(render('llama3')).toBe(
      '<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nSum 1+1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });
  it('mistral (system folded into the first [INST]; roles must alternate)', () => {
    expect(render('mistral')).toBe('<s> [INST] Be brief.\n\nHi [/INST] Hello</s> [INST] Sum 1+1 [/INST]');
    expect(() => render('mistral', [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }])).toThrow(/alternate/);
  });
  it('alpaca', () => {
    expect(render('alpaca')).toBe('Be brief.\n\n### Instruction:\nHi\n\n### Response:\nHello\n\n### Instruction:\nSum 1+1\n### Response:\n');
  });
  it('exaone', () => {
    expect(render('exaone', chat.slice(1))).toBe('[|system|][|endofturn|]\n[|user|]Hi\n[|assistant|]Hello[|endofturn|]\n[|user|]Sum 1+1\n[|assistant|]');
  });
  it("mergekit's test for a template string", () => {
    expect(looksLikeTemplate('chatml')).toBe(false);
    expect(looksLikeTemplate('{{ messages[0].content }} and more')).toBe(true);
  });
});
