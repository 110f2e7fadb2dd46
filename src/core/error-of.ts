// For tests: the MergeStudioError a call throws, so its code, message and details can be checked.
import { MergeStudioError } from './errors.ts';

/** Calls `fn`; returns the MergeStudioError it throws, rethrows any other error, and fails if it
 * returns normally. */
export function errorOf(fn: () => unknown): MergeStudioError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MergeStudioError) return err;
    throw err;
  }
  throw new Error('expected a MergeStudioError');
}
