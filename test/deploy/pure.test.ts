import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/common/errors.js";
import { colmenaArgv } from "../../src/deploy/apply.js";
import { certificatesVerdict, etcdVerdict, type CertRow } from "../../src/deploy/check.js";
import { checkHostPath, secretIdWriteScript, selectHosts } from "../../src/deploy/enroll.js";
import { mapLimit } from "../../src/deploy/pool.js";
import { remoteShell, shellQuote } from "../../src/deploy/shell.js";
import { sshSettingsFrom } from "../../src/deploy/ssh.js";
import { loopbackInventory } from "./helpers/cluster.js";

const dir = mkdtempSync(join(tmpdir(), "hak-pure-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const inv = loopbackInventory("puretest", "127.0.45", [
  { name: "etcd1", role: "etcd", last: 11 },
  { name: "cp1", role: "controlplane", last: 21 },
]);

describe("the secret-ID write script (run here with sh, as the host runs it)", () => {
  it("creates the folder 0700 and the file 0600 with exactly the input, even in a path with spaces and quotes, and leaves no temp file", () => {
    const path = join(dir, "it's a dir", "state", "secret-id");
    const out = execFileSync("sh", ["-c", secretIdWriteScript(path)], { input: "s3cret-id", encoding: "utf8" });
    expect(readFileSync(path, "utf8")).toBe("s3cret-id");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "it's a dir", "state")).mode & 0o777).toBe(0o700);
    expect(out.trim()).toBe("600 root:root");
    expect(readdirSync(join(dir, "it's a dir", "state"))).toEqual(["secret-id"]);
    execFileSync("sh", ["-c", secretIdWriteScript(path)], { input: "second" });
    expect(readFileSync(path, "utf8")).toBe("second");
  });

  it("wraps the script in sudo -n for a non-root SSH user", () => {
    expect(remoteShell("echo 'x'", "root")).toBe(`sh -c 'echo '\\''x'\\'''`);
    expect(remoteShell("true", "deploy")).toBe("sudo -n sh -c true");
    expect(shellQuote("/var/lib/hak-agent/secret-id")).toBe("/var/lib/hak-agent/secret-id");
  });

  it.each(["relative/secret-id", "/var/lib/x/", "/a\nb"])("refuses the secret-ID path %j", (p) => {
    expect(() => checkHostPath(p)).toThrow(InputError);
  });
});

describe("etcd status verdict", () => {
  const urls = ["https://10.0.0.1:2379", "https://10.0.0.2:2379"];
  const status = (ep: string, leader: number) => ({ Endpoint: ep, Status: { leader, version: "3.5.16", header: { member_id: 1 } } });
  it("ok when every member answers and all name one leader", () => {
    expect(etcdVerdict(JSON.stringify(urls.map((u) => status(u, 7))), "", 0, urls)).toEqual({ ok: true, detail: "2 members, one leader, etcd 3.5.16" });
  });
  it("names a member that did not answer", () => {
    const v = etcdVerdict(JSON.stringify([status(urls[0]!, 7)]), "Failed to get the status of endpoint https://10.0.0.2:2379", 1, urls);
    expect(v).toEqual({ ok: false, detail: "no answer from https://10.0.0.2:2379" });
  });
  it("fails on split leadership or no leader", () => {
    expect(etcdVerdict(JSON.stringify([status(urls[0]!, 7), status(urls[1]!, 8)]), "", 0, urls).detail).toMatch(/disagree on the leader/);
    expect(etcdVerdict(JSON.stringify(urls.map((u) => status(u, 0))), "", 0, urls).ok).toBe(false);
  });
  it("reports etcdctl's own error when it printed no status", () => {
    expect(etcdVerdict("", "Error: open /x/etcd-ca.crt: no such file or directory\n", 1, urls)).toEqual({
      ok: false,
      detail: "etcdctl gave no status (exit 1): Error: open /x/etcd-ca.crt: no such file or directory",
    });
  });
});

describe("certificate verdict", () => {
  const row = (file: string, state: CertRow["state"], isCa = false): CertRow => ({
    host: "h", file, commonName: file, isCa, notAfter: "2030-01-01T00:00:00.000Z", residualSeconds: 3600 * (isCa ? 1e5 : 10), state,
  });
  it("a due renewal ('soon') is fine, a late leaf fails, a late CA does not, an expired CA does", () => {
    expect(certificatesVerdict([row("a.crt", "soon"), row("ca.crt", "late", true)], [])).toMatchObject({ ok: true });
    expect(certificatesVerdict([row("a.crt", "late")], [])).toMatchObject({ ok: false, detail: "a.crt late (2030-01-01T00:00:00.000Z)" });
    expect(certificatesVerdict([row("ca.crt", "expired", true)], []).ok).toBe(false);
  });
  it("no certificates at all is a failure (the agent has not delivered yet)", () => {
    expect(certificatesVerdict([], [])).toEqual({ ok: false, detail: "no certificates yet" });
  });
});

describe("small pieces", () => {
  it("colmena gets @role for a whole role and names for a selection", () => {
    expect(colmenaArgv("etcd", undefined, ["--impure"])).toEqual(["apply", "--on", "@etcd", "--impure"]);
    expect(colmenaArgv("etcd", inv.hosts.slice(0, 1), [])).toEqual(["apply", "--on", "etcd1"]);
  });

  it("selectHosts refuses names not in the inventory, listing the right ones", () => {
    expect(selectHosts(inv, ["cp1"]).map((h) => h.name)).toEqual(["cp1"]);
    expect(() => selectHosts(inv, ["cp9"])).toThrow(/not in the inventory: cp9/);
  });

  it("mapLimit keeps order and never runs more than the limit at once", async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, n * 3));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });

  it("SSH settings: flags over environment, clear errors for bad values", () => {
    const env = { HOME: dir, HAK_SSH_USER: "deploy", HAK_SSH_PORT: "2222", SSH_AUTH_SOCK: "/run/agent.sock" };
    expect(sshSettingsFrom({}, env)).toMatchObject({ user: "deploy", port: 2222, agentSocket: "/run/agent.sock", knownHostsFile: join(dir, ".ssh", "known_hosts") });
    expect(sshSettingsFrom({ sshUser: "root", sshPort: "22" }, env)).toMatchObject({ user: "root", port: 22 });
    expect(() => sshSettingsFrom({ sshPort: "99999" }, env)).toThrow(expect.objectContaining({ where: "--ssh-port" }));
    expect(() => sshSettingsFrom({}, { HOME: dir })).toThrow(/no SSH key/);
    expect(() => sshSettingsFrom({ sshKey: join(dir, "nope") }, env)).toThrow(expect.objectContaining({ where: `--ssh-key ${join(dir, "nope")}` }));
  });
});
