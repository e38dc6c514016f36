#!/usr/bin/env node
import './node-navigator.js';
import { main } from '../cli.js';

main(process.argv.slice(2)).then((code) => process.exit(code));
