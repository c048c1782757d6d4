// Helpers of the CNM tests.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Controller, Netns } from '../src';
import type { ControllerOptions } from '../src';
import { eventually, hostLinks } from './helpers';

/** A state directory of the test's own. */
export function tmpState(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-state-'));
}

/**
 * A fresh controller for each test of the suite (handed to `set`); the one
 * `get` returns after the test (a test may have reopened it) is destroyed,
 * and then no link and no named namespace may be left.
 */
export function controllerPerTest(set: (c: Controller) => void, get: () => Controller, opts: ControllerOptions = {}): void {
  beforeEach(async () => { set(await Controller.open({ stateDir: tmpState(), upstreamDns: [], ...opts })); });
  afterEach(async () => {
    await get().destroy();
    await eventually(() => assert.deepStrictEqual(hostLinks(), []));
    assert.deepStrictEqual(Netns.list(), []);
  });
}
