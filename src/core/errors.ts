/** Base of every error the engine raises on bad input: a stable code plus a message that names
 * the file, tensor or parameter involved, what was expected and what was found. */
export class MergeStudioError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}
