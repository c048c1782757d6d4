#!/usr/bin/env node
// `cnm`: Docker's network commands over the CNM controller (see cli/program.ts).
import { main } from './cli/program';

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  process.stderr.write(`cnm: error: ${e?.message ?? e}\n`);
  process.exit(1);
});
