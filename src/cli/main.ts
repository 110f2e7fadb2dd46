// Node entry of the merge-studio CLI. Each command lives in its own file and returns an exit code;
// errors print one line on stderr.
import { escapeControl } from '../core/text.ts';

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  inspect: { summary: 'print the tensor table / compatibility report of models', load: () => import('./inspect.ts') },
  merge: { summary: 'run a mergekit YAML recipe and write the merged model folder', load: () => import('./merge.ts') },
  eval: { summary: 'evaluate a model folder or an in-memory merged recipe on JSONL tasks', load: () => import('./eval.ts') },
  dam: { summary: 'train per-channel merge coefficients (Differentiable Adaptive Merging) and write the merged model folder', load: () => import('./dam.ts') },
  tokenize: { summary: 'show the text and token ids a model is fed (special tokens, chat template)', load: () => import('./tokenize.ts') },
  push: { summary: 'publish a model folder to the Hub (one commit; a retry skips files already uploaded)', load: () => import('./push.ts') },
  search: { summary: 'search merge recipes automatically (spaces, optimizers, multi-fidelity) and write the Pareto front', load: () => import('./search.ts') },
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const entry = command ? COMMANDS[command] : undefined;
  if (!entry) {
    const list = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(9)} ${v.summary}`).join('\n');
    process.stderr.write(`merge-studio: ${command ? `unknown command '${command}'` : 'no command given'}\nCommands:\n${list}\n`);
    return 2;
  }
  try {
    const mod = await entry.load();
    return await mod.run(rest);
  } catch (err) {
    // Messages can quote server text and file names: control characters are escaped.
    process.stderr.write(`merge-studio ${command}: ${escapeControl(err instanceof Error ? err.message : String(err))}\n`);
    return 1;
  }
}
