#!/usr/bin/env node
// `npm run bench [-- name ...]`: runs each benchmark's own run.js in turn (all of them by default).
// Each one compiles what it needs, stays on 127.0.0.1, and is bounded in count and time.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync } = require('node:fs');
const path = require('node:path');

const all = readdirSync(__dirname, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(__dirname, d.name, 'run.js')))
  .map((d) => d.name);
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (have: ${all.join(', ')})`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n== bench/${name}`);
  const run = spawnSync(process.execPath, [path.join(__dirname, name, 'run.js')], { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
