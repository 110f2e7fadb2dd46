// The recipe in the page's URL: `#r=v1.` + base64url(deflate-raw(JSON of the recipe)). The version
// prefix lets a later format be told apart; a link that is not one of ours, of another version, or
// garbled is refused with a message that says which, never an exception the page does not catch.
import { parseRecipeObject, type Recipe } from '../core/recipe/index.ts';
import { bytesToBase64 } from '../core/text.ts';

export const LINK_PREFIX = '#r=';
export const LINK_VERSION = 'v1';
/** Longer fragments are offered as a file instead: some browsers, servers and chat apps cut URLs. */
export const MAX_LINK_CHARS = 8000;

async function pump(data: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Response(new Blob([data as BlobPart]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

export function toBase64Url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('it holds characters that are not base64url');
  const b = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

/** The URL fragment (with its `#r=`) that carries `recipe`. */
export async function encodeRecipeLink(recipe: Recipe): Promise<string> {
  const json = new TextEncoder().encode(JSON.stringify(recipe));
  return `${LINK_PREFIX}${LINK_VERSION}.${toBase64Url(await pump(json, new CompressionStream('deflate-raw')))}`;
}

export type LinkResult = { ok: true; recipe: Recipe } | { ok: false; error: string };

/** Whether a URL fragment carries a recipe (well formed or not). */
export function isRecipeLink(hash: string): boolean {
  return hash.startsWith(LINK_PREFIX);
}

/** Reads a recipe back from a URL fragment `#r=...`. */
export async function decodeRecipeLink(hash: string): Promise<LinkResult> {
  if (!isRecipeLink(hash)) return { ok: false, error: 'the link holds no recipe (#r=...)' };
  const body = hash.slice(LINK_PREFIX.length);
  const dot = body.indexOf('.');
  const version = dot < 0 ? '' : body.slice(0, dot);
  if (!/^v\d+$/.test(version)) return { ok: false, error: `the recipe in this link is not readable: it does not start with a version such as '${LINK_VERSION}.'` };
  if (version !== LINK_VERSION) return { ok: false, error: `the recipe in this link is in format ${version}, which this studio does not read (it reads ${LINK_VERSION}); open it in the studio that made it` };
  let text: string;
  try {
    const bytes = fromBase64Url(body.slice(dot + 1));
    text = new TextDecoder('utf-8', { fatal: true }).decode(await pump(bytes, new DecompressionStream('deflate-raw')));
  } catch (err) {
    return { ok: false, error: `the recipe in this link is damaged (cut short or changed?): ${(err as Error).message || 'it does not decompress'}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: 'the recipe in this link is damaged: it does not decompress to JSON' };
  }
  try {
    return { ok: true, recipe: parseRecipeObject(raw) };
  } catch (err) {
    return { ok: false, error: `the link's recipe is not a valid recipe: ${(err as Error).message}` };
  }
}
