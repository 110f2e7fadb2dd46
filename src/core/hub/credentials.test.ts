import { describe, expect, it } from 'vitest';
import { MergeStudioError } from '../errors.ts';
import { hubTokenKeeper, REMEMBERED_TOKEN_KEY, type KeyValueStorage } from './credentials.ts';

function mapStorage(): KeyValueStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

describe('hubTokenKeeper', () => {
  it('keeps the token in memory only unless asked to remember it, and says where it is then', () => {
    const storage = mapStorage();
    const keeper = hubTokenKeeper(storage);
    keeper.set('hf_memoryOnly123');
    expect(keeper.token).toBe('hf_memoryOnly123');
    expect(storage.map.size).toBe(0);
    expect(keeper.storedWhere).toBeNull();
    expect(hubTokenKeeper(storage).token).toBeUndefined();

    keeper.set('hf_remembered456', { remember: true });
    expect(storage.map.get(REMEMBERED_TOKEN_KEY)).toBe('hf_remembered456');
    expect(keeper.storedWhere).toContain('local storage');
    const nextSession = hubTokenKeeper(storage);
    expect([nextSession.token, nextSession.remembered]).toEqual(['hf_remembered456', true]);

    nextSession.set('hf_notRememberedAnyMore');
    expect(storage.map.size).toBe(0);
    nextSession.set('hf_again789', { remember: true });
    nextSession.forget();
    expect([nextSession.token, storage.map.size]).toEqual([undefined, 0]);
  });

  it('refuses a malformed token before storing it', () => {
    const storage = mapStorage();
    const keeper = hubTokenKeeper(storage);
    expect(() => keeper.set('password123', { remember: true })).toThrow(MergeStudioError);
    expect(storage.map.size).toBe(0);
    storage.map.set(REMEMBERED_TOKEN_KEY, 'garbage value');
    expect(hubTokenKeeper(storage).token).toBeUndefined();
  });
});
