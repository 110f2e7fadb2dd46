import { describe, expect, it } from 'vitest';
import { UndoStack } from './undo.ts';

describe('UndoStack', () => {
  it('undoes and redoes single edits in order, and a new edit drops the redo branch', () => {
    const u = new UndoStack<string>();
    let state = 'a';
    const edit = (next: string, gesture: number | null = null) => {
      u.record(state, gesture);
      state = next;
    };
    edit('b');
    edit('c');
    expect(u.depth).toEqual({ undo: 2, redo: 0 });
    state = u.undo(state)!;
    expect(state).toBe('b');
    state = u.undo(state)!;
    expect(state).toBe('a');
    expect(u.undo(state)).toBeUndefined();
    state = u.redo(state)!;
    expect(state).toBe('b');
    edit('x');
    expect(u.canRedo).toBe(false);
    state = u.undo(state)!;
    expect(state).toBe('b');
  });

  it('coalesces the edits of one gesture (a drag) into one step, and separate gestures stay separate', () => {
    const u = new UndoStack<number>();
    let state = 0;
    const edit = (next: number, gesture: number | null) => {
      u.record(state, gesture);
      state = next;
    };
    for (let v = 1; v <= 10; v++) edit(v, 7); // one drag, ten moves
    expect(u.depth.undo).toBe(1);
    edit(20, 8); // a second drag
    edit(21, null); // a key press
    edit(22, null);
    expect(u.depth.undo).toBe(4);
    state = u.undo(state)!;
    state = u.undo(state)!;
    state = u.undo(state)!;
    expect(state).toBe(10);
    state = u.undo(state)!;
    expect(state).toBe(0);
  });

  it('an edit in the same gesture after an undo starts a new step', () => {
    const u = new UndoStack<number>();
    u.record(0, 1);
    expect(u.undo(1)).toBe(0);
    u.record(0, 1);
    expect(u.depth).toEqual({ undo: 1, redo: 0 });
  });

  it('keeps at most `limit` steps', () => {
    const u = new UndoStack<number>(3);
    for (let i = 0; i < 10; i++) u.record(i);
    expect(u.depth.undo).toBe(3);
    expect(u.undo(10)).toBe(9);
  });
});
