#!/usr/bin/env node
import { existsSync } from "node:fs";

if (process.argv[2] === "credential") {
  // The kubeconfig credential plugin: client-go runs it at each expiry, so it loads only its own small module.
  const { credentialMain } = await import("../dist/agent/credential.js");
  process.exitCode = credentialMain(process.argv.slice(3));
} else {
  // The bundle (npm run build: scripts/bundle-agent.mjs) when it is there: one file to load, a smaller process.
  const bundle = new URL("../dist/hak-agent.mjs", import.meta.url);
  const { main } = existsSync(bundle) ? await import(bundle.href) : await import("../dist/agent/cli.js");
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
