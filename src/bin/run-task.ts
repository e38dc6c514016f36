#!/usr/bin/env node
// `run-task --task-id N | --job-id HEX`: the guide's name for `taskpod run`.
import './node-navigator.js';
import { main } from '../cli.js';

main(['run', ...process.argv.slice(2)]).then((code) => process.exit(code));
