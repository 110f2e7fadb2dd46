// Web Worker entry: the studio engine behind comlink. Errors cross as Error objects whose name is
// the MergeStudioError code (comlink keeps name and message), so the page can show them as they are.
import { expose } from 'comlink';
import { MergeStudioError } from '../core/errors.ts';
import { StudioEngine } from './engine.ts';
import { NO_LIVE_WORKER } from './protocol.ts';

const engine = new StudioEngine({ zooUrl: new URL(`${import.meta.env.BASE_URL}zoo/`, self.location.origin).href, gpu: 'gpu' in navigator, liveLoop: self.name !== NO_LIVE_WORKER });

function portable(err: unknown): Error {
  if (err instanceof MergeStudioError) return Object.assign(new Error(err.message), { name: err.code });
  if (err instanceof Error) return err;
  return new Error(String(err));
}

/** Every method of the engine, with errors made portable. */
const api = new Proxy(engine, {
  get(target, key, receiver) {
    const value = Reflect.get(target, key, receiver);
    if (typeof value !== 'function') return value;
    return (...args: unknown[]) => {
      try {
        const out = value.apply(target, args);
        return out instanceof Promise ? out.catch((err: unknown) => { throw portable(err); }) : out;
      } catch (err) {
        throw portable(err);
      }
    };
  },
});

expose(api);
