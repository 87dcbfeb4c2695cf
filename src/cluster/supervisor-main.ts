import { supervisorMain } from "./supervisor.js";

/** The per-host supervisor process (see supervisor.ts); the local cluster starts it inside the host's namespaces. */
const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: supervisor-main UNITS.json\n");
  process.exit(2);
}
supervisorMain(file).catch((err: unknown) => {
  process.stderr.write(`supervisor: ${(err as Error).message}\n`);
  process.exit(1);
});
