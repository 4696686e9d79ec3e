#!/usr/bin/env node
// Compiles the SMS benchmark (and the parts of src/ it imports) with tsc, then runs it.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
execFileSync(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(__dirname, 'tsconfig.json')],
  {
    stdio: 'inherit',
    cwd: root,
  },
);
require(path.join(root, 'bench/results/sms/build/bench/sms/sms.bench.js'));
