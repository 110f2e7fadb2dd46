import { MergeStudioError } from './errors.ts';

/** The MergeStudioError `fn` throws (any other error is rethrown; no error fails the test). */
export function thrown(fn: () => unknown): MergeStudioError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MergeStudioError) return err;
    throw err;
  }
  throw new Error('expected an error');
}
