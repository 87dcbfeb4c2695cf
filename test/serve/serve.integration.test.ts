import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Inventory } from "../../src/common/inventory.js";
import { loopbackInventory } from "../helpers/inventory.js";
import type { LocalBao } from "../../src/common/localbao.js";
import { signCsr } from "../../src/common/sign.js";
import { requestSpec } from "../../src/common/profiles.js";
import { VaultError, type VaultClient } from "../../src/common/vault.js";
import { createCsr, generateKeyPair } from "../../src/common/x509.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { main } from "../../src/pki/cli.js";
import { signProfile } from "../../src/pki/issue.js";
import type { WebhookPayload } from "../../src/pki/serve/alerts.js";
import { createAuditorToken } from "../../src/pki/serve/auditor.js";
import { FleetMonitor, type Snapshot } from "../../src/pki/serve/monitor.js";
import { startServe, type RunningServe } from "../../src/pki/serve/server.js";
import { devBao } from "../helpers/bao.js";
import { screenshot, withChromium } from "../helpers/chromium.js";

/**
 * serve against a real OpenBao bootstrapped by the reconciler: states from
 * certificates Vault really signed (short TTLs stand for agents that stopped
 * renewing), a real webhook receiver, drift after a direct edit in Vault.
 */

const inv: Inventory = loopbackInventory({
  name: "servetest",
  net: 41,
  // w2 is in the inventory but never enrolled: everything it should hold is missing.
  hosts: [
    ["etcd1", "etcd"],
    ["cp1", "controlplane"],
    ["w1", "worker"],
    ["w2", "worker"],
  ],
});

/** A webhook receiver that fails its first request (503) to exercise the retries. */
class Receiver {
  payloads: WebhookPayload[] = [];
  requests = 0;
  server: Server;
  constructor() {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        this.requests++;
        if (this.requests === 1) {
          res.writeHead(503).end("try later");
          return;
        }
        this.payloads.push(JSON.parse(body) as WebhookPayload);
        res.writeHead(200).end("ok");
      });
    });
  }
  url: string | undefined;
  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this.url;
  }
  /** Every alert delivered so far, as "status alertname identity/profile". */
  alerts(): string[] {
    return this.payloads.flatMap((p) => p.alerts.map((a) => `${a.status} ${a.labels.alertname} ${a.labels.identity}/${a.labels.profile}`));
  }
}

/** How far ahead serve's clock runs in these tests: as if every agent had stopped 100 s ago. */
const AHEAD_MS = 100_000;

function byId(s: Snapshot): Map<string, Snapshot["fleet"][number]> {
  return new Map(s.fleet.map((e) => [e.id, e]));
}

describe("hak-pki serve against OpenBao", () => {
  let bao: LocalBao;
  let root: VaultClient;
  let auditor: VaultClient;
  let running: RunningServe;
  const receiver = new Receiver();
  const stateDir = mkdtempSync(join(tmpdir(), "hak-serve-state-"));
  const stateFile = join(stateDir, "alerts.json");

  beforeAll(async () => {
    bao = await devBao();
    root = bao.client();
    await bootstrap(root, inv);
    auditor = root.withToken(await createAuditorToken(root));
    // serve runs with its clock AHEAD (below): it sees these certificates as they
    // will be then, with nobody renewing them. A 145s certificate is past its
    // renewal point (2/3) and a 115s one in its last sixth; a 1s one has really expired.
    await signProfile(root, inv, { profile: "etcd-server", host: "etcd1" });
    await signProfile(root, inv, { profile: "etcd-peer", host: "etcd1", ttl: "145s" });
    await signProfile(root, inv, { profile: "host-identity", host: "etcd1", ttl: "115s" });
    await signProfile(root, inv, { profile: "apiserver", host: "cp1", ttl: "1s" });
    await signProfile(root, inv, { profile: "kubelet", host: "w1" });
    await sleep(1500);
  });

  afterAll(async () => {
    await running?.close();
    receiver.server.close();
    await auditor?.close();
    await root?.close();
    await bao?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("the auditor token cannot sign, issue secret IDs or change anything (Vault refuses)", async () => {
    const spec = requestSpec(inv, "etcd-server", inv.hosts[0]);
    const csr = await createCsr(await generateKeyPair(), { commonName: spec.commonName, dns: spec.dns, ip: spec.ip });
    const attempts: [string, () => Promise<unknown>][] = [
      ["sign", () => signCsr(auditor, { profile: "etcd-server", host: "etcd1", csrPem: csr, commonName: spec.commonName })],
      ["sign through a CEL role", () => auditor.write("pki-etcd/cel/sign/etcd-server.etcd1", { csr, common_name: spec.commonName })],
      ["edit a role", () => auditor.write("pki-kubernetes/roles/kubelet.w1", { allowed_domains: ["evil.example"] })],
      ["edit a CEL role", () => auditor.write("pki-etcd/cel/roles/etcd-server.etcd1", { cel_program: {} })],
      ["write a policy", () => auditor.write("sys/policies/acl/hak-auditor", { policy: 'path "*" { capabilities = ["sudo","create","update"] }' })],
      ["mount an engine", () => auditor.write("sys/mounts/evil", { type: "kv" })],
      ["make a secret ID", () => auditor.write("auth/approle/role/etcd1/secret-id", {})],
      ["make a token", () => auditor.write("auth/token/create", { policies: ["hak-operator"] })],
      ["read the service-account key", () => auditor.request("GET", "hak-kv/data/service-account")],
      ["revoke a certificate", () => auditor.write("pki-etcd/revoke", { serial_number: "00" })],
      ["rotate the CRL", () => auditor.request("GET", "pki-etcd/crl/rotate")],
    ];
    for (const [what, attempt] of attempts) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(VaultError);
      expect((err as VaultError).status, what).toBe(403);
    }
    // ...while it can read what serve needs.
    expect((await auditor.list("pki-etcd/certs")).length).toBeGreaterThan(0);
  });

  it("computes ok, soon, late, expired and missing from what Vault signed", async () => {
    const url = await receiver.start();
    running = await startServe({
      inventory: inv,
      client: auditor,
      listen: { host: "127.0.0.1", port: 0 },
      intervalSeconds: 3600,
      webhookUrl: url,
      retry: { attempts: 5, baseMs: 50, capMs: 200 },
      now: () => new Date(Date.now() + AHEAD_MS),
      stateFile,
    });
    const s = await running.monitor.refresh();
    expect(s.error).toBeUndefined();
    const f = byId(s);
    expect(f.get("etcd1/etcd-server")?.state).toBe("ok");
    expect(f.get("etcd1/etcd-peer")?.state).toBe("soon");
    expect(f.get("etcd1/host-identity")?.state).toBe("late");
    expect(f.get("cp1/apiserver")?.state).toBe("expired");
    expect(f.get("w1/kubelet")?.state).toBe("ok");
    for (const p of ["kubelet", "kubelet-serving", "host-identity"]) expect(f.get(`w2/${p}`)?.state).toBe("missing");
    // No kube-proxy certificate signed at all: each holder's own is missing.
    for (const h of ["w1", "w2"]) expect(f.get(`${h}/kube-proxy`)?.state).toBe("missing");
    // Worst first.
    expect(s.fleet[0]!.state).toBe("expired");
    const serial = f.get("etcd1/etcd-server")!.serial!;
    expect(await auditor.read(`pki-etcd/cert/${serial}`)).toBeDefined();
  });

  it("sends one alert per transition, retried past a failing receiver, and a resolved message on recovery", async () => {
    await running.monitor.flush();
    const alerting = running.monitor.snapshot().fleet.filter((e) => ["late", "expired", "missing"].includes(e.state));
    const want = alerting.map((e) => `firing ${{ late: "HakFleetCertificateLate", expired: "HakFleetCertificateExpired", missing: "HakFleetCertificateMissing" }[e.state as "late"]} ${e.identity}/${e.profile}`);
    expect(receiver.alerts().sort()).toEqual(want.sort());
    expect(receiver.requests).toBe(2); // the 503, then the retry
    expect(receiver.payloads[0]).toMatchObject({ version: "4", status: "firing", groupLabels: { cluster: "servetest" } });

    // Nothing changed: no duplicates.
    await running.monitor.refresh();
    await running.monitor.flush();
    expect(receiver.alerts()).toHaveLength(want.length);

    // The late identity is renewed: exactly one resolved message, for it.
    await signProfile(root, inv, { profile: "host-identity", host: "etcd1" });
    const after = await running.monitor.refresh();
    await running.monitor.flush();
    expect(byId(after).get("etcd1/host-identity")?.state).toBe("ok");
    const added = receiver.alerts().slice(want.length);
    expect(added).toEqual(["resolved HakFleetCertificateLate etcd1/host-identity"]);
    const last = receiver.payloads.at(-1)!;
    expect(last.status).toBe("resolved");
    expect(last.alerts[0]!.endsAt).not.toBe("0001-01-01T00:00:00Z");
  });

  it("reports drift after a role is changed directly in Vault, and changes nothing", async () => {
    const before = await running.monitor.refresh({ drift: true });
    expect(before.driftError).toBeUndefined();
    expect(before.drift?.items).toEqual([]);
    const path = "pki-kubernetes/roles/kubelet.w1";
    await root.write(path, { allowed_domains: ["system:node:w1", "evil.example"], ttl: "8760h" });
    const after = await running.monitor.refresh({ drift: true });
    const item = after.drift?.items.find((d) => d.id.includes(path));
    expect(item, JSON.stringify(after.drift)).toBeDefined();
    expect(item!.action).toBe("update");
    expect(item!.changes.join("\n")).toMatch(/allowed_domains/);
    expect(item!.changes.join("\n")).toMatch(/evil\.example/);
    // serve did not put it back.
    const role = await root.read<{ allowed_domains: string[] }>(path);
    expect(role?.allowed_domains).toContain("evil.example");
  });

  it("serves the page, JSON, metrics and health over a real socket", async () => {
    const page = await fetch(running.url);
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('<meta http-equiv="refresh"');
    expect(text).toMatch(/data-identity="w2"[^>]*data-worst="missing"/);
    expect(text).toContain("evil.example");
    const fleet = (await (await fetch(new URL("api/fleet", running.url))).json()) as Snapshot;
    expect(fleet.fleet.length).toBe(running.monitor.snapshot().fleet.length);
    const metrics = await (await fetch(new URL("metrics", running.url))).text();
    expect(metrics).toMatch(/hak_fleet_certificate_state\{[^}]*identity="cp1"[^}]*profile="apiserver"[^}]*state="expired"\} 1/);
    expect(metrics).toMatch(/hak_fleet_certificates\{cluster="servetest",state="missing"\} [1-9]/);
    expect(metrics).toMatch(/hak_fleet_drift_objects\{cluster="servetest"\} [1-9]/);
    expect(metrics).toMatch(/hak_fleet_webhook_deliveries_total [1-9]/);
    const health = await fetch(new URL("healthz", running.url));
    expect(health.status).toBe(200);
  });

  it("renders in headless Chromium: rows and states as a person sees them, without JavaScript", async () => {
    // One more agent that stopped renewing, so the page shows all five states.
    await signProfile(root, inv, { profile: "host-identity", host: "w1", ttl: "115s" });
    await running.monitor.refresh();
    await withChromium(async (page) => {
      await page.goto(running.url);
      const rows = await page.locator("tbody tr").evaluateAll((trs) =>
        trs.map((tr) => ({
          identity: tr.getAttribute("data-identity"),
          worst: tr.getAttribute("data-worst"),
          cells: [...tr.querySelectorAll("td.cell")].map((td) => `${td.getAttribute("data-profile")}=${td.querySelector(".st")?.textContent}`),
        })),
      );
      expect(rows.map((r) => r.identity)).toContain("w2");
      expect(rows[0]).toMatchObject({ identity: "cp1", worst: "expired" });
      expect(rows.find((r) => r.identity === "etcd1")?.cells).toEqual(expect.arrayContaining(["etcd-server=ok", "etcd-peer=soon", "host-identity=ok"]));
      expect(rows.find((r) => r.identity === "w1")?.cells).toEqual(expect.arrayContaining(["kubelet=ok", "host-identity=late"]));
      expect(rows.find((r) => r.identity === "w2")?.cells.sort()).toEqual(["coredns=missing", "host-identity=missing", "kube-proxy=missing", "kubelet-serving=missing", "kubelet=missing"]);
      // Colour follows state: the expired cell is red, the ok one green.
      const bg = (sel: string) => page.locator(sel).first().evaluate((el) => getComputedStyle(el).backgroundColor);
      expect(await bg('tr[data-identity="cp1"] td[data-profile="apiserver"]')).toBe("rgb(198, 40, 40)");
      expect(await bg('tr[data-identity="etcd1"] td[data-profile="etcd-server"]')).toBe("rgb(227, 244, 232)");
      // Problems first, worst first, each with what to run next; nothing wider than 1280 px.
      const first = await page.locator(".problems li.problem").first().innerText();
      expect(first).toMatch(/expired/i);
      expect(first).toContain("cp1");
      expect(first).toContain("hak-deploy check cp1");
      expect(await page.locator('.problems li.problem[data-identity="w2"]').innerText()).toContain("hak-deploy enroll w2");
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
      const shot = await screenshot(page, "fleet-page.png");
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(await page.locator("section.drift").innerText()).toContain("kubelet.w1");
    }, { width: 1280, height: 800 });
  });

  it("`hak-pki serve --once` prints the fleet and exits 1 while identities are missing; bad flags exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hak-serve-cli-"));
    const file = join(dir, "inventory.yaml");
    writeFileSync(file, JSON.stringify({ ...inv, leafTtl: "720h" }));
    const env = { VAULT_ADDR: process.env.VAULT_ADDR, VAULT_TOKEN: process.env.VAULT_TOKEN };
    process.env.VAULT_ADDR = bao.address;
    process.env.VAULT_TOKEN = auditor.token;
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await main(["serve", "--once", "--no-drift", "-i", file])).toBe(1);
      const snap = JSON.parse(out.join("")) as Snapshot;
      expect(snap.counts.missing).toBeGreaterThan(0);
      expect(snap.fleet.find((e) => e.id === "etcd1/etcd-server")?.state).toBe("ok");
      const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
      expect(await main(["serve", "--listen", "nope", "-i", file])).toBe(2);
      expect(await main(["serve", "--interval", "soon", "-i", file])).toBe(2);
      expect(String(stderr.mock.calls.map((c) => c[0]).join(""))).toMatch(/--listen: not HOST:PORT/);
      stderr.mockRestore();
    } finally {
      write.mockRestore();
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a restarted serve remembers what is firing: nothing is sent again", async () => {
    await running.monitor.flush();
    const sent = receiver.alerts().length;
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const restarted = new FleetMonitor({ inventory: inv, client: auditor, webhookUrl: receiver.url!, externalUrl: running.url, stateFile, noDrift: true, now: () => new Date(Date.now() + AHEAD_MS) });
    const s = await restarted.refresh();
    await restarted.flush();
    await restarted.stop();
    expect(s.alerts.length).toBeGreaterThan(0);
    expect(receiver.alerts()).toHaveLength(sent);
  });

  // Last: it stops OpenBao.
  it("keeps the last fleet and alerts when Vault stops answering, and says so on the page and in /metrics", async () => {
    const before = running.monitor.snapshot();
    const sent = receiver.alerts().length;
    await bao.stop();
    const after = await running.monitor.refresh({ drift: false });
    await running.monitor.flush();
    expect(after.error).toMatch(/no answer/);
    expect(after.fleet).toEqual(before.fleet);
    expect(after.lastSuccess).toBe(before.lastSuccess);
    expect(receiver.alerts()).toHaveLength(sent); // nothing turned "missing" because Vault is down
    const page = await (await fetch(running.url)).text();
    expect(page).toContain("Vault could not be read");
    const metrics = await (await fetch(new URL("metrics", running.url))).text();
    expect(metrics).toMatch(/hak_fleet_refresh_errors_total [1-9]/);
  });
});
