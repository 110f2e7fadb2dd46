import { inflateRawSync, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseRecipeYaml, type Recipe } from '../core/recipe/index.ts';
import { decodeRecipeLink, encodeRecipeLink, fromBase64Url, MAX_LINK_CHARS, toBase64Url } from './recipe-link.ts';

const RECIPE: Recipe = parseRecipeYaml(`
merge_method: ties
base_model: zoo/tiny-llama-base
parameters:
  normalize: true
models:
  - model: zoo/tiny-llama-reverse
    parameters:
      weight: [0.1, 0.5, 0.9]
      density: 0.7
  - model: zoo/tiny-llama-caesar
    parameters:
      weight:
        - filter: self_attn
          value: 0.25
        - value: 0.75
      density: 0.5
`);

describe('recipe links', () => {
  it('round-trips a recipe, and the payload is raw DEFLATE of its JSON (read here with zlib)', async () => {
    const hash = await encodeRecipeLink(RECIPE);
    expect(hash).toMatch(/^#r=v1\.[A-Za-z0-9_-]+$/);
    const decoded = await decodeRecipeLink(hash);
    expect(decoded).toEqual({ ok: true, recipe: RECIPE });
    // An independent inflate (Node's zlib) reads the same JSON back.
    const json = inflateRawSync(Buffer.from(hash.slice('#r=v1.'.length), 'base64url')).toString('utf8');
    expect(JSON.parse(json)).toEqual(RECIPE);
    expect(hash.length).toBeLessThan(MAX_LINK_CHARS);
  });

  it('reads a link written by another deflater (zlib)', async () => {
    const payload = deflateRawSync(Buffer.from(JSON.stringify(RECIPE))).toString('base64url');
    expect(await decodeRecipeLink(`#r=v1.${payload}`)).toEqual({ ok: true, recipe: RECIPE });
  });

  it('base64url round trip over every byte value', () => {
    const bytes = Uint8Array.from({ length: 256 * 3 + 1 }, (_, i) => (i * 7) % 256);
    const text = toBase64Url(bytes);
    expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
    expect(fromBase64Url(text)).toEqual(bytes);
    expect(Buffer.from(bytes).toString('base64url')).toBe(text);
  });

  it('refuses another version, a missing version, garbled data and a non-recipe, each with its own message', async () => {
    const good = await encodeRecipeLink(RECIPE);
    const bad = async (hash: string) => {
      const r = await decodeRecipeLink(hash);
      expect(r.ok).toBe(false);
      return r.ok ? '' : r.error;
    };
    expect(await bad(good.replace('#r=v1.', '#r=v2.'))).toMatch(/format v2, which this studio does not read \(it reads v1\)/);
    expect(await bad(good.replace('#r=v1.', '#r='))).toMatch(/does not start with a version/);
    expect(await bad(good.slice(0, good.length - 12))).toMatch(/damaged/);
    expect(await bad('#r=v1.!!!not-base64')).toMatch(/damaged.*not base64url/);
    expect(await bad('#r=v1.AAAA')).toMatch(/damaged/);
    const notRecipe = deflateRawSync(Buffer.from(JSON.stringify({ models: [] }))).toString('base64url');
    expect(await bad(`#r=v1.${notRecipe}`)).toMatch(/not a valid recipe.*merge_method/);
    const notJson = deflateRawSync(Buffer.from('merge_method: [')).toString('base64url');
    expect(await bad(`#r=v1.${notJson}`)).toMatch(/not.*JSON/);
    expect(await bad('#x=1')).toMatch(/no recipe/);
  });
});
