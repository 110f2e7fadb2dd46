// A cheap look at how deeply a YAML text nests, before the YAML library parses it: the library
// recurses once per level and a few thousand levels exhaust the call stack ("Maximum call stack
// size exceeded", with no useful position). Recipes and specs nest a handful of levels, so a
// text deeper than MAX_YAML_DEPTH is refused with the line where it gets too deep.

export const MAX_YAML_DEPTH = 100;

/** The 1-based line where the nesting first exceeds `limit` levels, or undefined. Block levels
 * are counted from indentation (and `- ` items that open on the same line), flow levels from
 * brackets and braces outside quoted strings and comments. */
export function tooDeepLine(text: string, limit = MAX_YAML_DEPTH): number | undefined {
  const indents: number[] = [];
  let flow = 0;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const body = line.trimStart();
    if (body === '' || body.startsWith('#')) continue;
    let depth = 0;
    if (flow === 0) {
      const indent = line.length - body.length;
      while (indents.length > 0 && indents[indents.length - 1] > indent) indents.pop();
      if (indents.length === 0 || indents[indents.length - 1] < indent) indents.push(indent);
      const dashes = /^(-\s+)+/.exec(body);
      depth = indents.length + (dashes ? dashes[0].split('-').length - 1 : 0);
    }
    let quote = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quote) {
        if (c === quote) quote = '';
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) break;
      else if (c === '[' || c === '{') flow++;
      else if ((c === ']' || c === '}') && flow > 0) flow--;
      if (depth + flow > limit) return n + 1;
    }
    if (depth + flow > limit) return n + 1;
  }
  return undefined;
}

/** The message for a text that nests too deeply. */
export function tooDeepMessage(line: number | undefined, limit = MAX_YAML_DEPTH): string {
  return `${line !== undefined ? `line ${line}: ` : ''}the YAML nests more than ${limit} levels deep, which no recipe or spec needs (is this the right file?)`;
}
