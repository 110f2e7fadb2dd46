// A streamed tar archive (POSIX ustar, stored entries) as a SinkFactory: the browser's streamed
// download packs the export folder into one file without ever holding a whole file. Every export
// file's size is planned before its first byte, so each entry header goes out before its data.
// Layout after POSIX.1-2001 ustar (IEEE Std 1003.1, "pax" utility, ustar Interchange Format); sizes
// of 8 GiB and more use the base-256 size field that GNU tar and bsdtar read.
import { MergeStudioError } from '../errors.ts';
import type { ByteSink, SinkFactory } from './types.ts';

/** Where the archive bytes go, in order. `abort` must make the output look broken (a failed download), never complete. */
export interface ChunkWriter {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(reason: Error): Promise<void>;
}

const BLOCK = 512;
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

function putString(header: Uint8Array, at: number, length: number, value: string): void {
  const bytes = new TextEncoder().encode(value);
  if (bytes.byteLength > length) throw new MergeStudioError('tar-name', `tar: '${value}' is longer than ${length} bytes`, { file: value });
  header.set(bytes, at);
}

function putOctal(header: Uint8Array, at: number, length: number, value: number): void {
  putString(header, at, length, value.toString(8).padStart(length - 1, '0'));
}

/** One ustar header block for a regular file `path` of `size` bytes. */
export function tarHeader(path: string, size: number, mtimeSeconds: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) throw new MergeStudioError('tar-size', `tar: ${path}: bad size ${size}`, { file: path });
  const header = new Uint8Array(BLOCK);
  // Names up to 100 bytes go in `name`; longer ones split at a '/' into prefix (155) + name (100).
  const bytes = new TextEncoder().encode(path).byteLength;
  let name = path;
  let prefix = '';
  if (bytes > 100) {
    const cut = path.lastIndexOf('/', 155);
    if (cut <= 0 || new TextEncoder().encode(path.slice(cut + 1)).byteLength > 100) throw new MergeStudioError('tar-name', `tar: the path '${path}' is too long for a ustar entry`, { file: path });
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  putString(header, 0, 100, name);
  putOctal(header, 100, 8, 0o644);
  putOctal(header, 108, 8, 0);
  putOctal(header, 116, 8, 0);
  if (size <= MAX_OCTAL_SIZE) putOctal(header, 124, 12, size);
  else {
    header[124] = 0x80;
    let rest = size;
    for (let i = 135; i > 124; i--) {
      header[i] = rest % 256;
      rest = Math.floor(rest / 256);
    }
  }
  putOctal(header, 136, 12, Math.max(0, Math.floor(mtimeSeconds)));
  header.fill(0x20, 148, 156);
  header[156] = 0x30; // '0': a regular file
  putString(header, 257, 6, 'ustar');
  putString(header, 263, 2, '00');
  putString(header, 345, 155, prefix);
  let sum = 0;
  for (const b of header) sum += b;
  putString(header, 148, 7, sum.toString(8).padStart(6, '0'));
  header[154] = 0;
  return header;
}

export interface TarSinks extends SinkFactory {
  /** Writes the end-of-archive blocks and closes the output: only now does the archive look complete. */
  finish(): Promise<void>;
  /** Breaks the output (the download fails) after an error or a cancel. */
  abort(reason: Error): Promise<void>;
}

/** Files created here become entries `folder/NAME` of one tar stream written to `out`, one file at a time. */
export function tarSinks(out: ChunkWriter, folder: string, mtimeSeconds = Date.now() / 1000): TarSinks {
  let open: string | null = null;
  let state: 'open' | 'finished' | 'aborted' = 'open';
  const fail = (message: string, file?: string) => new MergeStudioError('tar-sink', `${folder}.tar: ${message}`, file ? { file } : {});
  const abort = async (reason: Error) => {
    if (state !== 'open') return;
    state = 'aborted';
    await out.abort(reason).catch(() => undefined);
  };
  return {
    async create(fileName: string, size?: number): Promise<ByteSink> {
      if (state !== 'open') throw fail(`the archive is already ${state}`, fileName);
      if (open) throw fail(`'${fileName}' opened while '${open}' is still being written (entries go one at a time)`, fileName);
      if (size === undefined) throw fail(`the size of '${fileName}' must be known before its data`, fileName);
      open = fileName;
      await out.write(tarHeader(`${folder}/${fileName}`, size, mtimeSeconds));
      let written = 0;
      let done = false;
      return {
        name: `${folder}.tar/${fileName}`,
        async write(chunk: Uint8Array) {
          if (done || state !== 'open') throw fail(`write to '${fileName}' after close or abort`, fileName);
          written += chunk.byteLength;
          if (written > size) throw fail(`'${fileName}' got more than its planned ${size} bytes`, fileName);
          await out.write(chunk);
        },
        async close() {
          if (done) return;
          done = true;
          open = null;
          if (written !== size) {
            const err = fail(`'${fileName}' ended after ${written} of its planned ${size} bytes`, fileName);
            await abort(err);
            throw err;
          }
          const pad = (BLOCK - (size % BLOCK)) % BLOCK;
          if (pad) await out.write(new Uint8Array(pad));
        },
        async abort() {
          done = true;
          open = null;
          await abort(fail(`'${fileName}' was not finished`, fileName));
        },
      };
    },
    // An entry already streamed out cannot be taken back: the whole archive fails instead.
    async remove(fileName: string) {
      await abort(fail(`the export failed after '${fileName}' was written`, fileName));
    },
    async finish() {
      if (state !== 'open') throw fail(`the archive is already ${state}`);
      if (open) throw fail(`'${open}' is still being written`);
      await out.write(new Uint8Array(2 * BLOCK));
      state = 'finished';
      await out.close();
    },
    abort,
  };
}
