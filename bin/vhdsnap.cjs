#!/usr/bin/env node
// Launcher for the bundled CLI (built by `npm run build` into dist/cli/).
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const bundle = path.join(__dirname, '..', 'dist', 'cli', 'vhdsnap.cjs');
if (!fs.existsSync(bundle)) {
  process.stderr.write('vhdsnap: not built yet — run `npm run build`\n');
  process.exit(2);
}
require(bundle);
