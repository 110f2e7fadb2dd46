// mergekit YAML <-> Recipe. Parsing validates fully (shape, method, parameters) and adds the YAML
// line to each error; writing uses mergekit's key order and flow style for number lists.
import { Document, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Node } from 'yaml';
import { MergeStudioError } from '../errors.ts';
import type { MergeMethod } from '../methods/types.ts';
import type { Recipe } from './types.ts';
import { assembleStages, recipeDocuments } from './stages.ts';
import { checkRecipeAgainstMethod, parseRecipeObject, type YamlPath } from './validate.ts';
import { tooDeepLine, tooDeepMessage } from './yaml-depth.ts';

export interface ParseRecipeOptions {
  /** Where the text came from, for error messages (a file path). */
  source?: string;
  /** Method lookup; the registry by default. */
  lookup?: (name: string) => MergeMethod;
}

/** Parses and validates mergekit YAML: one document, or several (mergekit-multi) where each but
 * the final merge has a `name` and later documents use those names as models. */
export function parseRecipeYaml(text: string, options: ParseRecipeOptions = {}): Recipe {
  const where = options.source ? `${options.source}: ` : '';
  const deep = tooDeepLine(text);
  if (deep !== undefined) throw new MergeStudioError('recipe-yaml', `${where}${tooDeepMessage(deep)}`, { file: options.source, line: deep });
  const lines = new LineCounter();
  // YAML 1.1, as mergekit's PyYAML reads it: `yes`/`no`/`on`/`off` are booleans there.
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, version: '1.1' });
  const all = Array.isArray(parsed) ? parsed : [];
  // An empty document (a stray `---` at the end) is no merge, unless it is all there is.
  const docs = all.length > 1 ? all.filter((d) => !(d.contents === null || (isScalar(d.contents) && d.contents.value === null))) : all;
  if (docs.length === 0) return parseDocumentRecipe(new Document(null), lines, where, options);
  const label = (i: number) => `document ${i + 1}${typeof docs[i].get('name') === 'string' ? ` ('${String(docs[i].get('name'))}')` : ''}`;
  const recipes = docs.map((doc, i) => parseDocumentRecipe(doc, lines, docs.length > 1 ? `${where}${label(i)}, ` : where, options));
  if (recipes.length === 1) return recipes[0];
  try {
    const recipe = assembleStages(recipes, label);
    checkRecipeAgainstMethod(recipe, options.lookup);
    return recipe;
  } catch (err) {
    if (err instanceof MergeStudioError) throw new MergeStudioError(err.code, `${where}${err.message}`, { ...err.details, file: options.source });
    throw err;
  }
}

function parseDocumentRecipe(doc: Document, lines: LineCounter, where: string, options: ParseRecipeOptions): Recipe {
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.pos ? lines.linePos(e.pos[0]) : undefined;
    // The library reports a stack overflow as a parse error; say what it means.
    const what = /call stack/i.test(e.message) ? tooDeepMessage(undefined) : `not valid YAML: ${e.message.split('\n')[0]}`;
    throw new MergeStudioError('recipe-yaml', `${where}${pos ? `line ${pos.line}: ` : ''}${what}`, { file: options.source, line: pos?.line });
  }
  try {
    const recipe = parseRecipeObject(doc.toJS({ maxAliasCount: 100 }));
    checkRecipeAgainstMethod(recipe, options.lookup);
    return recipe;
  } catch (err) {
    if (!(err instanceof MergeStudioError)) throw err;
    const path = err.details.pathSegments as YamlPath | undefined;
    const line = path ? lineOf(doc, lines, path) : undefined;
    const at = line !== undefined ? `line ${line}: ` : '';
    throw new MergeStudioError(err.code, `${where}${at}${err.message}`, { ...err.details, file: options.source, line });
  }
}

/** Line of the node at `path`, or of its nearest existing parent. */
function lineOf(doc: Document, lines: LineCounter, path: YamlPath): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
    if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

/** mergekit's key order, so exported YAML reads like the examples users know. */
const KEY_ORDER = ['name', 'models', 'slices', 'merge_method', 'base_model', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source', 'tokenizer', 'chat_template', 'random_seed'];

/** Writes a recipe as mergekit YAML: one document, or for a multi-stage recipe its stages and then
 * the final merge, separated by `---` (mergekit-multi's format). */
export function recipeToYaml(recipe: Recipe): string {
  return recipeDocuments(recipe).map(documentToYaml).join('---\n');
}

function documentToYaml(recipe: Recipe): string {
  const ordered: Record<string, unknown> = {};
  for (const key of KEY_ORDER) {
    const v = (recipe as unknown as Record<string, unknown>)[key];
    if (v !== undefined) ordered[key] = v;
  }
  // Written as YAML 1.1, the version it is read back with (and mergekit's PyYAML reads): strings such as
  // `y`, `no`, `on`, `e0` or `1:20` are then quoted instead of coming back as booleans or numbers.
  const doc = new Document(JSON.parse(JSON.stringify(ordered)), { version: '1.1' });
  // Number lists (layer ranges, gradients) on one line, as mergekit's dumper writes them.
  visit(doc, {
    Seq(_, node) {
      if (isSeq(node) && node.items.every((i) => typeof (i as { value?: unknown }).value === 'number' || typeof (i as { value?: unknown }).value === 'boolean')) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0 });
}
