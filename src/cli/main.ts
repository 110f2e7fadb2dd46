// Node entry of the merge-studio CLI. Each command returns an exit code; errors print one line.
export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    default:
      process.stderr.write(`merge-studio: unknown command '${command ?? ''}'. Commands: inspect\n`);
      return 2;
  }
}
