// The recipe's undo stack (pure): every change pushes the state it replaced, except that changes
// made during one gesture (a drag: pointer down to pointer up) coalesce into a single step.

export class UndoStack<T> {
  private past: T[] = [];
  private future: T[] = [];
  /** The gesture whose first change was recorded last; later changes in it add no step. */
  private gesture: number | null = null;

  constructor(private readonly limit = 200) {}

  /** Records that the state `previous` was replaced by a user edit; `gesture` names the pointer
   * gesture the edit belongs to (null: none, every edit is its own step). */
  record(previous: T, gesture: number | null = null): void {
    if (gesture !== null && gesture === this.gesture) return;
    this.gesture = gesture;
    this.past.push(previous);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }

  /** The state to go back to from `current` (which becomes redoable), or undefined. */
  undo(current: T): T | undefined {
    const previous = this.past.pop();
    if (previous === undefined) return undefined;
    this.future.push(current);
    this.gesture = null;
    return previous;
  }

  redo(current: T): T | undefined {
    const next = this.future.pop();
    if (next === undefined) return undefined;
    this.past.push(current);
    this.gesture = null;
    return next;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  get depth(): { undo: number; redo: number } {
    return { undo: this.past.length, redo: this.future.length };
  }

  clear(): void {
    this.past = [];
    this.future = [];
    this.gesture = null;
  }
}
