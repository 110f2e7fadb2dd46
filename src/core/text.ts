// Text that came from outside (a server's error body, a file name in a listing, a URL the user
// typed) made safe to print: control characters escaped so a terminal never obeys them, and
// credentials taken out of URLs.

/** C0 and C1 control characters and DEL, plus the bidirectional overrides that reorder what a
 * reader sees. Tab stays as it is; everything else becomes \xNN or \uNNNN. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A URL as it may be printed: without user name and password (shown as `***@`), and without its
 * query and fragment (signed storage URLs carry their credentials there). Text that does not parse
 * as a URL loses anything between `//` and `@` instead. */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(String(url));
    const hidden = u.username || u.password;
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return escapeControl(hidden ? u.href.replace('//', '//***@') : u.href);
  } catch {
    return escapeControl(String(url).replace(/\/\/[^/@\s]*@/, '//***@'));
  }
}

/** Standard base64 of `bytes` (btoa over 32 KiB pieces, so a large array never overflows the call stack). */
export function bytesToBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
