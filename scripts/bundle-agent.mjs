// Bundles hak-agent into dist/hak-agent.mjs (and the chunks it loads only
// when configured, e.g. the HTTP server) with esbuild, so the agent starts
// from one parsed file instead of resolving and compiling ~150 modules.
// bin/hak-agent.js runs it when present, dist/agent/cli.js otherwise.
// Run by `npm run build`; `--metafile` writes what went in to dist/hak-agent.meta.json.
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rmSync, writeFileSync } from "node:fs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Chunks are named by content hash: old ones would pile up.
rmSync(join(root, "dist", "hak-agent-chunks"), { recursive: true, force: true });
const res = await build({
  absWorkingDir: root,
  entryPoints: { "hak-agent": "src/agent/cli.ts" },
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  chunkNames: "hak-agent-chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // V8 keeps every script's source in memory: smaller source, smaller heap.
  minify: true,
  keepNames: false,
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
  // CommonJS packages inside an ES module call require() for Node's built-ins.
  banner: { js: 'import { createRequire as __hakCreateRequire } from "node:module"; const require = __hakCreateRequire(import.meta.url);' },
});
if (process.argv.includes("--metafile")) writeFileSync(join(root, "dist", "hak-agent.meta.json"), JSON.stringify(res.metafile, null, 1));
