#!/usr/bin/env node
import { existsSync } from "node:fs";

// The bundle (npm run build: scripts/bundle-agent.mjs) when it is there: one file to load, a smaller process.
const bundle = new URL("../dist/hak-agent.mjs", import.meta.url);
const { main } = existsSync(bundle) ? await import(bundle.href) : await import("../dist/agent/cli.js");

main(process.argv.slice(2)).then((code) => process.exit(code));
