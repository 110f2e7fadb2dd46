/** One progress shape for every long operation, so UI, CLI and tests report alike. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
  /** Bytes processed so far in this phase, when meaningful. */
  bytes?: number;
  /** Bytes (or items) per second, when known. */
  rate?: number;
  /** Seconds left, when known. */
  eta?: number;
  message?: string;
}
export type ProgressCallback = (p: Progress) => void;

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new DOMException('Aborted', 'AbortError');
}
