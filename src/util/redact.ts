/**
 * Credentials in connection URLs (`http://user:secret@registry:8081`) must
 * never reach a message or a log line (issue 12 §7): every place that names a
 * server in text goes through {@link redactUrl}, and text that may quote a URL
 * we did not build (a driver's error message) through {@link redactUrlsIn}.
 */

const MASK = '***';

/** The URL with its user name and password masked; text that is not a URL comes back unchanged. */
export function redactUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return redactUrlsIn(text);
  }
  if (!u.username && !u.password) return text;
  if (u.username) u.username = MASK;
  if (u.password) u.password = MASK;
  return u.toString();
}

/** `scheme://user:password@` or `scheme://user@` anywhere in `text` → `scheme://***:***@`. */
export function redactUrlsIn(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, `$1${MASK}:${MASK}@`);
}

/**
 * Splits basic-auth credentials out of a URL: HTTP clients (fetch) refuse a
 * URL with credentials in it, and a URL without them is safe to print.
 */
export function splitUrlCredentials(text: string): { url: string; auth?: { username: string; password: string } } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { url: text };
  }
  if (!u.username && !u.password) return { url: text };
  const auth = { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
  u.username = '';
  u.password = '';
  return { url: u.toString(), auth };
}
