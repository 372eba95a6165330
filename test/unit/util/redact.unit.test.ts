import { describe, expect, it } from 'vitest';
import { RegistryCodec } from '../../../src/codec/registry.js';
import { readEnv } from '../../../src/config/env.js';
import { redactUrl, redactUrlsIn, splitUrlCredentials } from '../../../src/util/redact.js';
import { serviceLogger } from '../../../services/lib/process.js';

const SECRET = 'hunter2';

describe('redaction of credentials in URLs (issue 12 §7)', () => {
  it('masks user and password of a URL, and leaves URLs without credentials alone', () => {
    expect(redactUrl(`http://reguser:${SECRET}@registry:8081/x`)).toBe('http://***:***@registry:8081/x');
    expect(redactUrl('http://registry:8081')).toBe('http://registry:8081');
    expect(redactUrl(`not a url reguser:${SECRET}`)).toBe(`not a url reguser:${SECRET}`);
  });

  it('masks every URL with credentials inside free text', () => {
    const text = `connect failed: mongodb://u:${SECRET}@h:27017/db and redis://:${SECRET}@r:6379 and http://plain:1/`;
    const out = redactUrlsIn(text);
    expect(out).not.toContain(SECRET);
    expect(out).toContain('mongodb://***:***@h:27017/db');
    expect(out).toContain('http://plain:1/');
  });

  it('splits basic-auth credentials out of a URL', () => {
    expect(splitUrlCredentials(`http://reg%20user:${SECRET}@h:8081/p`)).toEqual({ url: 'http://h:8081/p', auth: { username: 'reg user', password: SECRET } });
    expect(splitUrlCredentials('http://h:8081')).toEqual({ url: 'http://h:8081' });
  });

  it('a registry that cannot be reached is named without its credentials', async () => {
    // Port 9 (discard) on loopback: nobody listens in the test environment, so the connection is refused at once.
    const codec = new RegistryCodec({ url: `http://reguser:${SECRET}@127.0.0.1:9` });
    const error = (await codec.register('redact-test-value', { type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe('AS_UNAVAILABLE');
    expect(error.message).toContain('127.0.0.1:9');
    expect(JSON.stringify({ message: error.message, stack: error.stack, cause: String((error.cause as Error | undefined)?.message) })).not.toContain(SECRET);
  });

  it('a malformed URL variable is reported without its credentials', () => {
    expect(() => readEnv({ SCHEMA_REGISTRY_URL: `ftp://reguser:${SECRET}@h:1` })).toThrow(/SCHEMA_REGISTRY_URL/);
    for (const value of [`ftp://reguser:${SECRET}@h:1`, `http://reguser:${SECRET}@h:bad port`]) {
      const message = (() => {
        try {
          readEnv({ SCHEMA_REGISTRY_URL: value });
          return 'no error';
        } catch (e) {
          return (e as Error).message;
        }
      })();
      expect(message).toContain('SCHEMA_REGISTRY_URL');
      expect(message).not.toContain(SECRET);
    }
  });

  it("services' log lines never carry a URL's password", () => {
    const lines: string[] = [];
    const logger = serviceLogger('test', 'info', { write: (line: string) => void lines.push(line) });
    logger.warn({ err: new Error(`cannot reach http://reguser:${SECRET}@registry:8081`) }, `retrying mongodb://u:${SECRET}@h/db`);
    expect(lines.join('')).toContain('registry:8081');
    expect(lines.join('')).not.toContain(SECRET);
  });
});
