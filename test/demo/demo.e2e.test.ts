import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect as tlsConnect } from "node:tls";
import { Agent, fetch as undiciFetch } from "undici";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/common/localbao.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import type { DemoReport } from "../../src/demo/demo.js";
import type { Snapshot } from "../../src/pki/serve/monitor.js";
import { pidAlive } from "../../src/demo/procs.js";
import { screenshot, withChromium } from "../helpers/chromium.js";

/**
 * `npm run demo` end to end, as a person runs it (bin/hak-demo.js on the
 * build), in its own state folder, ports and loopback /24 so it can run
 * beside a person's demo: fresh start, second run reuses, stop leaves no
 * process behind.
 */

const stateDir = mkdtempSync(join(tmpdir(), "hak-demo-e2e-"));
let flags: string[] = [];

function demo(args: string[], timeoutMs = 240_000) {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "hak-demo.js"), ...args], { encoding: "utf8", timeout: timeoutMs, cwd: PROJECT_ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("npm run demo", () => {
  let first: DemoReport;

  beforeAll(async () => {
    // The demo runs the built program, like `npm run demo`.
    const b = spawnSync("npm", ["run", "-s", "build"], { cwd: PROJECT_ROOT, encoding: "utf8" });
    expect(b.status, b.stderr + b.stdout).toBe(0);
    const bao = await freePort();
    flags = [
      "--state-dir", stateDir,
      "--bao-port", String(bao),
      "--serve", `127.0.0.1:${await freePort()}`,
      "--loopback", "127.0.244",
      "--etcd-ports", `${await freePort()},${await freePort()}`,
      "--interval", "2s",
    ];
  }, 120_000);

  afterAll(() => {
    demo(["stop", "--state-dir", stateDir]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("starts from nothing: Vault, hosts' certificates, etcd, serve; prints where to look", () => {
    // One-minute certificates, so a rotation happens within the test (--ttl sticks for the later runs).
    const r = demo(["up", "--json", "--ttl", "1m", ...flags]);
    expect(r.code, r.err).toBe(0);
    first = JSON.parse(r.out) as DemoReport;
    console.log(`demo fresh start: ${first.seconds.toFixed(1)}s`);
    expect(first.etcd).toMatchObject({ healthy: true });
    // One hak-agent per host, each enrolled from its own loopback address.
    expect(first.processes.filter((p) => p.kind === "agent")).toHaveLength(10);
    expect(r.err.match(/enrolled \(single-use secret ID bound to 127\.0\.244\.\d+\/32\)/g)).toHaveLength(10);
    expect(first.fleet?.missing).toBe(0);
    expect(first.fleet?.expired).toBe(0);
    const key = join(first.hostsDir, "etcd1", "var", "lib", "hak-agent", "certs", "etcd-server.key");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(existsSync(join(first.hostsDir, "worker2", "var", "lib", "hak-agent", "certs", "kubelet.crt"))).toBe(true);
    expect(statSync(first.vault.rootTokenFile).mode & 0o777).toBe(0o600);
    expect(r.err).toContain("127.0.244.11");
    const human = demo(["up", ...flags]);
    expect(human.out).toContain(first.fleetUrl);
    expect(human.out).toContain(first.vault.ui);
    expect(human.out).toContain("root_token");
    expect(human.out).toContain("npm run demo -- stop");
  }, 300_000);

  it("serves the fleet page and the Vault UI", async () => {
    await withChromium(async (page) => {
      await page.goto(first.fleetUrl);
      const states = await page.locator("td.cell").evaluateAll((tds) => tds.map((td) => td.getAttribute("data-state")));
      expect(states.length).toBeGreaterThan(20);
      expect(states.filter((s) => s === "missing" || s === "expired")).toEqual([]);
      expect(await page.locator("tbody tr").count()).toBe(10 + 3); // ten hosts, three shared pools
      await screenshot(page, "demo-fleet-page.png");
    });
    const ui = await undiciFetch(first.vault.ui, { dispatcher: new Agent({ connect: { ca: readFileSync(first.vault.caFile, "utf8") } }) });
    expect(ui.status).toBe(200);
  });

  it("reuses everything on a second run", () => {
    const r = demo(["up", "--json", ...flags]);
    expect(r.code, r.err).toBe(0);
    const second = JSON.parse(r.out) as DemoReport;
    expect(second.processes.map((p) => `${p.name}=${p.pid}`).sort()).toEqual(first.processes.map((p) => `${p.name}=${p.pid}`).sort());
    expect(r.err).toMatch(/0 created, 0 updated, 0 deleted/);
  }, 120_000);

  it("rotates certificates with --ttl 1m, and etcd serves the new one", async () => {
    const etcd1 = async () => ((await (await fetch(new URL("api/fleet", first.fleetUrl))).json()) as Snapshot).fleet.find((e) => e.id === "etcd1/etcd-server")!;
    const before = await etcd1();
    let after = before;
    for (const deadline = Date.now() + 120_000; after.serial === before.serial && Date.now() < deadline; ) {
      await sleep(2000);
      after = await etcd1();
    }
    expect(after.serial, "no new etcd-server certificate for etcd1 within 2 minutes").not.toBe(before.serial);
    expect(after.state).toBe("ok");
    // etcd re-reads its certificate on each TLS handshake: a new connection gets the rotated one.
    const certs = join(first.hostsDir, "etcd1", "var", "lib", "hak-agent", "certs");
    const endpoint = new URL(("endpoints" in first.etcd ? first.etcd.endpoints : [])[0]!);
    const served = await new Promise<string>((resolve, reject) => {
      const sock = tlsConnect(
        {
          host: endpoint.hostname,
          port: Number(endpoint.port),
          ca: readFileSync(join(certs, "etcd-ca.crt")),
          cert: readFileSync(join(certs, "etcd-healthcheck-client.crt")),
          key: readFileSync(join(certs, "etcd-healthcheck-client.key")),
          servername: "etcd1",
        },
        () => {
          resolve(sock.getPeerCertificate().serialNumber);
          sock.end();
        },
      );
      sock.on("error", reject);
    });
    const onDisk = await etcd1();
    expect([after.serial, onDisk.serial].map((x) => x!.replace(/:/g, "").toUpperCase())).toContain(served.toUpperCase());
  }, 180_000);

  it("stops cleanly, leaving none of its processes behind", () => {
    const pids = first.processes.map((p) => p.pid);
    expect(pids.length).toBe(15); // openbao, 10 agents, 3 etcd, serve
    expect(pids.every(pidAlive)).toBe(true);
    const r = demo(["stop", "--state-dir", stateDir], 60_000);
    expect(r.code, r.err).toBe(0);
    expect(pids.filter(pidAlive)).toEqual([]);
  }, 90_000);
});
