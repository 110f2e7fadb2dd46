/* global console, process */
// Checks that @huggingface/tokenizers reads every zoo tokenizer.json and encodes the reference
// prompts to exactly the ids PyTorch used (BOS from the post-processor + characters), and decodes them back.
// Usage: node tools/zoo/check-tokenizer.mjs [public/zoo]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

const zoo = process.argv[2] ?? 'public/zoo';
const manifest = JSON.parse(readFileSync(join(zoo, 'manifest.json'), 'utf8'));

function readI32Tensors(path) {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const tensors = new Map();
  for (const [name, info] of Object.entries(header)) {
    if (info.dtype !== 'I32') continue;
    const [begin, end] = info.data_offsets;
    const start = 8 + headerLength + begin;
    tensors.set(name, Array.from({ length: (end - begin) / 4 }, (_, i) => bytes.readInt32LE(start + 4 * i)));
  }
  return tensors;
}

let failures = 0;
let checked = 0;
for (const [family, entry] of Object.entries(manifest.families)) {
  for (const [name, model] of Object.entries(entry.models)) {
    const dir = join(zoo, model.path);
    const tokenizer = new Tokenizer(
      JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
      JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
    );
    const ids = readI32Tensors(join(zoo, model.reference.path));
    const bos = manifest.vocab.indexOf('<s>');
    model.reference.prompts.forEach((text, k) => {
      const expected = ids.get(`input_ids.${k}`);
      // The post-processor adds the BOS (add_special_tokens defaults to true).
      const withBos = tokenizer.encode(text).ids;
      if (withBos[0] !== bos) console.error(`${family}/${name}: the post-processor adds no BOS`);
      const decoded = tokenizer.decode(expected, { skip_special_tokens: true });
      checked += 1;
      if (JSON.stringify(withBos) !== JSON.stringify(expected) || decoded !== text) {
        failures += 1;
        console.error(`${family}/${name} prompt ${k}: expected ${JSON.stringify(expected)} / ${JSON.stringify(text)}, ` +
          `got ${JSON.stringify(withBos)} / ${JSON.stringify(decoded)}`);
      }
    });
  }
}
// Every task prompt is one token per character (spaces and newlines included).
const tokenizerDir = join(zoo, Object.values(Object.values(manifest.families)[0].models)[0].path);
const tokenizer = new Tokenizer(
  JSON.parse(readFileSync(join(tokenizerDir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(join(tokenizerDir, 'tokenizer_config.json'), 'utf8')),
);
for (const [skill, task] of Object.entries(manifest.tasks)) {
  for (const line of readFileSync(join(zoo, task.files.ppl), 'utf8').trim().split('\n')) {
    const { text } = JSON.parse(line);
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    const expected = [...text].map((c) => manifest.vocab.indexOf(c));
    checked += 1;
    if (JSON.stringify(ids) !== JSON.stringify(expected) || tokenizer.decode(ids) !== text) {
      failures += 1;
      console.error(`${skill}: ${JSON.stringify(text)} -> ${JSON.stringify(ids)}, expected ${JSON.stringify(expected)}`);
    }
  }
}
console.log(`${checked} encodings checked, ${failures} mismatches`);
process.exit(failures === 0 ? 0 : 1);
