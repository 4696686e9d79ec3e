#!/usr/bin/env node
// Compiles the webhook benchmark (and the parts of src/ it imports) with tsc into
// bench/results/webhooks/build (git-ignored), then runs it with the given arguments.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const entry = path.join(root, 'bench/results/webhooks/build/bench/webhooks/webhooks.bench.js');
try {
  execFileSync(
    process.execPath,
    [
      path.join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(__dirname, 'tsconfig.json'),
    ],
    { stdio: 'inherit', cwd: root },
  );
} catch (err) {
  // tsc still emits on type errors (`npm run check` is where they are caught); go on if it did.
  if (!existsSync(entry)) throw err;
  process.stderr.write('tsc reported type errors (above); running the JavaScript it emitted.\n');
}
require(entry);
