#!/usr/bin/env node
// hak-agent from the tsc output, without the bundle: for `npm run bench:agent`, which compares the two.
import { main } from "../dist/agent/cli.js";

main(process.argv.slice(2)).then((code) => process.exit(code));
