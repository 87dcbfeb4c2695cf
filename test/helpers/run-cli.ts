/**
 * `tsx test/helpers/run-cli.ts pki|agent|deploy ARGS...`: one of the three
 * CLIs from the sources, as bin/hak-*.js runs it from dist, so shell tests
 * exercise the code under test without a build. See cliBin().
 */
const which = process.argv[2];
const mods: Record<string, string> = { pki: "../../src/pki/cli.js", agent: "../../src/agent/cli.js", deploy: "../../src/deploy/cli.js" };
const mod = mods[which ?? ""];
if (!mod) {
  process.stderr.write("usage: run-cli.ts pki|agent|deploy ARGS...\n");
  process.exit(2);
}
const { main } = (await import(mod)) as { main: (argv: string[]) => Promise<number> };
process.exit(await main(process.argv.slice(3)));
