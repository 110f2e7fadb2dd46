// IFEval's verifiable instructions, checked as lm-evaluation-harness checks them
// (lm_eval/tasks/ifeval/instructions.py, instructions_registry.py and utils.py at 4e7e0d47f, read
// with the search tool's fetch; restated here, not copied). A prompt carries one or more
// instruction ids with their kwargs; a response follows an instruction when it is non-empty after
// stripping and the instruction's check passes ("strict"), and in the "loose" variant when any of
// eight relaxed versions of the response passes (first/last line removed, asterisks removed).
//
// Five instruction types are checked in lm-eval with langdetect or nltk (a trained language
// detector, punkt's sentence model, nltk's word tokenizer); no JavaScript equivalent gives the same
// answers, so prompts that carry one of them are not scored here and are counted apart
// (`UNSUPPORTED_INSTRUCTIONS`). Every other type follows Python's semantics: `re` patterns with
// Unicode \w, \s, \b and MULTILINE anchors, str.strip/split/lower/isspace, json.loads.
import { MergeStudioError } from '../errors.ts';
import type { Doc } from './definitions.ts';

/** Checked in lm-eval with langdetect / nltk: prompts with these are left out (counted apart). */
export const UNSUPPORTED_INSTRUCTIONS: ReadonlySet<string> = new Set([
  'language:response_language',
  'length_constraints:number_sentences',
  'change_case:english_capital',
  'change_case:english_lowercase',
  'change_case:capital_word_frequency',
]);

type Kwargs = Record<string, unknown>;
type Check = (response: string, kw: Kwargs, prompt: string) => boolean;

// ---------------------------------------------------------------- Python string semantics

/** Characters Python's str.isspace() accepts (bidi WS/B/S or category Zs). */
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's \w in a str pattern: letters, numbers, underscore. */
const PY_WORD = '\\p{L}\\p{N}_';
const S = `[${PY_SPACE}]`;

const stripRe = new RegExp(`^${S}+|${S}+$`, 'gu');
/** str.strip() */
export function pyStrip(s: string): string {
  return s.replace(stripRe, '');
}
/** str.split() (no argument): runs of whitespace, no empty parts. */
function pySplitWhitespace(s: string): string[] {
  return pyStrip(s).split(new RegExp(`${S}+`, 'u')).filter((p) => p.length > 0);
}
/** str.strip(chars) */
function stripChars(s: string, chars: string, left = true, right = true): string {
  let a = 0;
  let b = s.length;
  if (left) while (a < b && chars.includes(s[a])) a++;
  if (right) while (b > a && chars.includes(s[b - 1])) b--;
  return s.slice(a, b);
}
const removePrefix = (s: string, p: string) => (s.startsWith(p) ? s.slice(p.length) : s);
const removeSuffix = (s: string, p: string) => (p && s.endsWith(p) ? s.slice(0, -p.length) : s);

/** A user-given fragment of a Python regex (a keyword, a section marker) as JavaScript source:
 * `\b`, `\w`, `\s`, `\d` and `.` take Python's Unicode meanings. */
function pyFragment(src: string): string {
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\' && i + 1 < src.length) {
      const n = src[++i];
      if (n === 'b') out += `(?:(?<=[${PY_WORD}])(?![${PY_WORD}])|(?<![${PY_WORD}])(?=[${PY_WORD}]))`;
      else if (n === 'w') out += `[${PY_WORD}]`;
      else if (n === 'W') out += `[^${PY_WORD}]`;
      else if (n === 's') out += S;
      else if (n === 'd') out += '\\p{Nd}';
      else if (/[A-Za-z0-9]/.test(n)) out += `\\${n}`;
      else out += `\\u{${n.codePointAt(0)!.toString(16)}}`;
    } else if (c === '.') out += '[^\\n]';
    else out += c;
  }
  return out;
}
function pyRe(src: string, flags: string): RegExp {
  try {
    return new RegExp(pyFragment(src), `u${flags}`);
  } catch {
    // A keyword that is not a valid pattern: match it literally, as the nearest meaning.
    return new RegExp(src.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), `u${flags}`);
  }
}

/** json.loads accepts NaN, Infinity and -Infinity besides JSON. */
function pyJsonLoads(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    const replaced = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : '0'));
    if (replaced === text) return false;
    try {
      JSON.parse(replaced);
      return true;
    } catch {
      return false;
    }
  }
}

// ---------------------------------------------------------------- kwargs

function num(kw: Kwargs, key: string, id: string): number {
  const v = kw[key];
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new MergeStudioError('benchmark-doc-invalid', `ifeval: instruction '${id}' needs a number '${key}', found ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`, { task: 'ifeval', key });
  return n;
}
function text(kw: Kwargs, key: string, id: string): string {
  const v = kw[key];
  if (typeof v !== 'string') throw new MergeStudioError('benchmark-doc-invalid', `ifeval: instruction '${id}' needs a string '${key}', found ${JSON.stringify(v)}`, { task: 'ifeval', key });
  return v;
}
function words(kw: Kwargs, key: string, id: string): string[] {
  const v = kw[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new MergeStudioError('benchmark-doc-invalid', `ifeval: instruction '${id}' needs a list of strings '${key}', found ${JSON.stringify(v)}`, { task: 'ifeval', key });
  return v as string[];
}
function relation(kw: Kwargs, key: string, id: string): 'less than' | 'at least' {
  const r = text(kw, key, id);
  if (r !== 'less than' && r !== 'at least') throw new MergeStudioError('benchmark-doc-invalid', `ifeval: instruction '${id}': '${key}' must be "less than" or "at least", found ${JSON.stringify(r)}`, { task: 'ifeval', key });
  return r;
}
const compare = (count: number, rel: 'less than' | 'at least', n: number) => (rel === 'less than' ? count < n : count >= n);

// ---------------------------------------------------------------- the checks

const CHECKS: Record<string, Check> = {
  'keywords:existence': (r, kw) => words(kw, 'keywords', 'keywords:existence').every((k) => pyRe(k, 'i').test(r)),
  'keywords:frequency': (r, kw) => {
    const id = 'keywords:frequency';
    const found = r.match(pyRe(pyStrip(text(kw, 'keyword', id)), 'gi'))?.length ?? 0;
    return compare(found, relation(kw, 'relation', id), num(kw, 'frequency', id));
  },
  'keywords:forbidden_words': (r, kw) => !words(kw, 'forbidden_words', 'keywords:forbidden_words').some((w) => pyRe(`\\b${w}\\b`, 'i').test(r)),
  'keywords:letter_frequency': (r, kw) => {
    const id = 'keywords:letter_frequency';
    const letter = pyStrip(text(kw, 'letter', id)).toLowerCase();
    if ([...letter].length !== 1 || letter < 'a' || letter > 'z') throw new MergeStudioError('benchmark-doc-invalid', `ifeval: instruction '${id}': 'letter' must be one ASCII letter, found ${JSON.stringify(letter)}`, { task: 'ifeval' });
    let count = 0;
    for (const ch of r.toLowerCase()) if (ch === letter) count++;
    return compare(count, relation(kw, 'let_relation', id), num(kw, 'let_frequency', id));
  },
  'length_constraints:number_paragraphs': (r, kw) => {
    const parts = r.split(new RegExp(`${S}?\\*\\*\\*${S}?`, 'u'));
    let n = parts.length;
    for (const [i, p] of parts.entries()) {
      if (pyStrip(p)) continue;
      if (i === 0 || i === parts.length - 1) n--;
      else return false;
    }
    return n === num(kw, 'num_paragraphs', 'length_constraints:number_paragraphs');
  },
  'length_constraints:number_words': (r, kw) => {
    const id = 'length_constraints:number_words';
    // nltk's RegexpTokenizer(r"\w+"): the runs of word characters.
    const count = r.match(new RegExp(`[${PY_WORD}]+`, 'gu'))?.length ?? 0;
    return compare(count, relation(kw, 'relation', id), num(kw, 'num_words', id));
  },
  'length_constraints:nth_paragraph_first_word': (r, kw) => {
    const id = 'length_constraints:nth_paragraph_first_word';
    const want = num(kw, 'num_paragraphs', id);
    const nth = num(kw, 'nth_paragraph', id);
    const firstWord = text(kw, 'first_word', id).toLowerCase();
    const parts = r.split('\n\n');
    let n = parts.length;
    for (const p of parts) if (!pyStrip(p)) n--;
    if (nth > n || nth < 1) return false;
    const paragraph = pyStrip(parts[nth - 1]);
    if (!paragraph) return false;
    const word = stripChars(stripChars(pyStrip(pySplitWhitespace(paragraph)[0]), "'", true, false), '"', true, false);
    let first = '';
    for (const ch of word) {
      if ('.,?!\'"'.includes(ch)) break;
      first += ch.toLowerCase();
    }
    return n === want && first === firstWord;
  },
  'detectable_content:number_placeholders': (r, kw) => (r.match(/\[[^\n]*?\]/gu)?.length ?? 0) >= num(kw, 'num_placeholders', 'detectable_content:number_placeholders'),
  'detectable_content:postscript': (r, kw) => {
    const marker = pyStrip(text(kw, 'postscript_marker', 'detectable_content:postscript'));
    const v = r.toLowerCase();
    // `\s*MARKER.*$` with re.MULTILINE matches wherever the marker occurs (`.*$` always matches).
    if (marker === 'P.P.S') return new RegExp(`p\\.${S}?p\\.${S}?s`, 'u').test(v);
    if (marker === 'P.S.') return new RegExp(`p\\.${S}?s\\.`, 'u').test(v);
    return pyRe(marker.toLowerCase(), '').test(v);
  },
  'detectable_format:number_bullet_lists': (r, kw) => {
    // ^\s*\*[^\*].*$ and ^\s*-.*$ with re.MULTILINE: ^ at the start or after "\n"; \s* may cross lines.
    const star = r.match(new RegExp(`(?<![^\\n])${S}*\\*[^*](?:[^\\n])*`, 'gu'))?.length ?? 0;
    const dash = r.match(new RegExp(`(?<![^\\n])${S}*-(?:[^\\n])*`, 'gu'))?.length ?? 0;
    return star + dash === num(kw, 'num_bullets', 'detectable_format:number_bullet_lists');
  },
  'detectable_format:constrained_response': (r) => {
    const v = pyStrip(r);
    return ['My answer is yes.', 'My answer is no.', 'My answer is maybe.'].some((o) => v.includes(o));
  },
  'detectable_format:number_highlighted_sections': (r, kw) => {
    let n = 0;
    for (const h of r.match(/\*[^\n*]*\*/gu) ?? []) if (pyStrip(stripChars(h, '*'))) n++;
    for (const h of r.match(/\*\*[^\n*]*\*\*/gu) ?? []) if (pyStrip(removeSuffix(removePrefix(h, '**'), '**'))) n++;
    return n >= num(kw, 'num_highlights', 'detectable_format:number_highlighted_sections');
  },
  'detectable_format:multiple_sections': (r, kw) => {
    const id = 'detectable_format:multiple_sections';
    const splitter = pyStrip(text(kw, 'section_spliter', id));
    // len(re.split(pattern, value)) - 1 is the number of matches.
    const re = new RegExp(`${S}?${pyFragment(splitter)}${S}?\\p{Nd}+${S}?`, 'gu');
    return (r.match(re)?.length ?? 0) >= num(kw, 'num_sections', id);
  },
  'detectable_format:json_format': (r) => {
    let v = pyStrip(r);
    v = removePrefix(v, '```json');
    v = removePrefix(v, '```Json');
    v = removePrefix(v, '```JSON');
    v = removePrefix(v, '```');
    v = pyStrip(removeSuffix(v, '```'));
    return pyJsonLoads(v);
  },
  'detectable_format:title': (r) => (r.match(/<<[^\n]+>>/gu) ?? []).some((t) => pyStrip(stripChars(stripChars(t, '<', true, false), '>', false, true)).length > 0),
  'combination:two_responses': (r) => {
    const parts = r.split('******');
    const valid: string[] = [];
    for (const [i, p] of parts.entries()) {
      if (!pyStrip(p)) {
        if (i !== 0 && i !== parts.length - 1) return false;
      } else valid.push(p);
    }
    return valid.length === 2 && pyStrip(valid[0]) !== pyStrip(valid[1]);
  },
  'combination:repeat_prompt': (r, kw) => pyStrip(r).toLowerCase().startsWith(pyStrip(text(kw, 'prompt_to_repeat', 'combination:repeat_prompt')).toLowerCase()),
  'startend:end_checker': (r, kw) => stripChars(pyStrip(r), '"').toLowerCase().endsWith(pyStrip(pyStrip(text(kw, 'end_phrase', 'startend:end_checker'))).toLowerCase()),
  'startend:quotation': (r) => {
    const v = pyStrip(r);
    return [...v].length > 1 && v[0] === '"' && v[v.length - 1] === '"';
  },
  'punctuation:no_comma': (r) => !r.includes(','),
};

/** The instruction ids and kwargs of an IFEval document (google/IFEval columns). */
export function ifevalInstructions(doc: Doc): { ids: string[]; kwargs: Kwargs[]; prompt: string } {
  const ids = doc.instruction_id_list;
  const kwargs = doc.kwargs;
  const prompt = doc.prompt;
  if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) throw new MergeStudioError('benchmark-doc-invalid', `ifeval: 'instruction_id_list' must be a list of strings, found ${JSON.stringify(ids)}`, { task: 'ifeval' });
  if (!Array.isArray(kwargs) || kwargs.length !== ids.length || !kwargs.every((k) => k !== null && typeof k === 'object')) {
    throw new MergeStudioError('benchmark-doc-invalid', `ifeval: 'kwargs' must be a list of ${ids.length} objects (one per instruction), found ${JSON.stringify(kwargs)}`, { task: 'ifeval' });
  }
  if (typeof prompt !== 'string') throw new MergeStudioError('benchmark-doc-invalid', `ifeval: 'prompt' must be a string`, { task: 'ifeval' });
  // utils.py: kwargs with falsy values (None, 0, "") are dropped before build_description.
  const clean = (kw: Kwargs) => Object.fromEntries(Object.entries(kw).filter(([, v]) => v !== null && v !== undefined && v !== 0 && v !== '' && v !== 0n && !(Array.isArray(v) && v.length === 0)));
  return { ids: ids as string[], kwargs: (kwargs as Kwargs[]).map(clean), prompt };
}

/** Whether every instruction of the document can be checked as lm-eval checks it. */
export function ifevalSupported(doc: Doc): boolean {
  const { ids } = ifevalInstructions(doc);
  for (const id of ids) {
    if (UNSUPPORTED_INSTRUCTIONS.has(id)) return false;
    if (!(id in CHECKS)) throw new MergeStudioError('benchmark-doc-invalid', `ifeval: unknown instruction id '${id}' (known: ${[...Object.keys(CHECKS), ...UNSUPPORTED_INSTRUCTIONS].join(', ')})`, { task: 'ifeval', id });
  }
  return true;
}

export interface IfEvalResult {
  strict: boolean[];
  loose: boolean[];
}

/** utils.py process_results for one response (strict and loose, per instruction). */
export function checkIfEval(doc: Doc, response: string): IfEvalResult {
  const { ids, kwargs, prompt } = ifevalInstructions(doc);
  const lines = response.split('\n');
  const removeFirst = pyStrip(lines.slice(1).join('\n'));
  const removeLast = pyStrip(lines.slice(0, -1).join('\n'));
  const removeBoth = pyStrip(lines.slice(1, -1).join('\n'));
  const noStars = (s: string) => s.replaceAll('*', '');
  const variants = [response, noStars(response), removeFirst, removeLast, removeBoth, noStars(removeFirst), noStars(removeLast), noStars(removeBoth)];
  const follows = (check: Check, kw: Kwargs, r: string) => pyStrip(r).length > 0 && check(r, kw, prompt);
  const strict: boolean[] = [];
  const loose: boolean[] = [];
  for (const [i, id] of ids.entries()) {
    const check = CHECKS[id];
    if (!check) throw new MergeStudioError('benchmark-unsupported', `ifeval: instruction '${id}' is checked in lm-eval with langdetect/nltk and has no exact equivalent here`, { task: 'ifeval', id });
    strict.push(follows(check, kwargs[i], response));
    loose.push(variants.some((v) => follows(check, kwargs[i], v)));
  }
  return { strict, loose };
}
