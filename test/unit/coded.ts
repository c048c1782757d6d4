// For assert.throws: the error is an Error with this `code` (and a message matching `re`).
import * as assert from 'assert';

export const code = (c: string, re?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof Error);
  const e = err as Error & { code?: string };
  assert.strictEqual(e.code, c, e.message);
  if (re) assert.match(e.message, re);
  return true;
};
