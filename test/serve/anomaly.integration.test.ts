import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalBao } from "../../src/common/localbao.js";
import { PKI_MOUNT, profileOu } from "../../src/common/names.js";
import type { VaultClient } from "../../src/common/vault.js";
import { generateKeyPair, x509 } from "../../src/common/x509.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { signProfile } from "../../src/pki/issue.js";
import { readStatus, renderStatus } from "../../src/pki/status.js";
import type { WebhookPayload } from "../../src/pki/serve/alerts.js";
import { createAuditorToken } from "../../src/pki/serve/auditor.js";
import { startServe, type RunningServe } from "../../src/pki/serve/server.js";
import { devBao } from "../helpers/bao.js";
import { loopbackInventory } from "../helpers/inventory.js";

/**
 * A hole that opens later is seen: certificates Vault signed outside what
 * hak's roles allow (here made with a root token and sign-verbatim, which
 * takes the CSR's subject and any TTL) put the identity in state "anomaly",
 * on /api/fleet, in /metrics, on the page and as a webhook alert; a
 * certificate the role signed stays "ok".
 */

const inv = loopbackInventory({
  name: "anomaly",
  net: 59,
  hosts: [
    ["etcd1", "etcd"],
    ["cp1", "controlplane"],
    ["w1", "worker"],
    ["w2", "worker"],
  ],
});

describe("serve's anomaly state", () => {
  let bao: LocalBao;
  let root: VaultClient;
  let auditor: VaultClient;
  let running: RunningServe;
  let hook: Server;
  const payloads: WebhookPayload[] = [];

  /** A certificate with hak's OU for the profile, signed verbatim (no role): what a loosened policy would let through. */
  async function verbatim(subject: Record<string, string[]>[], ttl: string): Promise<void> {
    const kp = await generateKeyPair("ec");
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys: kp.keys, signingAlgorithm: kp.algorithm });
    await root.write(`${PKI_MOUNT.kubernetes}/sign-verbatim`, { csr: csr.toString("pem"), ttl, ext_key_usage: ["ClientAuth"] });
  }

  beforeAll(async () => {
    bao = await devBao();
    root = bao.client();
    await bootstrap(root, inv);
    auditor = root.withToken(await createAuditorToken(root));
    await signProfile(root, inv, { profile: "kubelet", host: "w2" });
    // Far past leafTtl (720h): the bug the issue found (a kubelet certificate until 2035).
    await verbatim([{ CN: ["system:node:w1"] }, { O: ["system:nodes"] }, { OU: [profileOu("kubelet")] }], "8760h");
    // Right lifetime, wrong subject: a kube-proxy identity in system:masters.
    await verbatim([{ CN: ["system:kube-proxy"] }, { O: ["system:masters"] }, { OU: [profileOu("kube-proxy")] }], "1h");
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        payloads.push(JSON.parse(body) as WebhookPayload);
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    running = await startServe({
      inventory: inv,
      client: auditor,
      listen: { host: "127.0.0.1", port: 0 },
      intervalSeconds: 3600,
      webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`,
      retry: { attempts: 3, baseMs: 50, capMs: 100 },
      noDrift: true,
    });
    await running.monitor.refresh();
  }, 60_000);

  afterAll(async () => {
    await running?.close();
    hook?.close();
    await auditor?.close();
    await root?.close();
    await bao?.stop();
  });

  it("marks the identities and says why, worst first", async () => {
    const s = await (await fetch(new URL("api/fleet", running.url))).json() as { fleet: { id: string; state: string; anomalies?: string[] }[] };
    const byId = new Map(s.fleet.map((e) => [e.id, e]));
    expect(byId.get("w1/kubelet")?.state).toBe("anomaly");
    expect(byId.get("w1/kubelet")?.anomalies?.join(" ")).toMatch(/lifetime \d+s exceeds leafTtl/);
    const pool = s.fleet.find((e) => e.id.endsWith("/kube-proxy"))!;
    expect(pool.state).toBe("anomaly");
    expect(pool.anomalies?.join(" ")).toMatch(/O \[system:masters\], expected \[system:node-proxier\]/);
    // What the role signed is fine.
    expect(byId.get("w2/kubelet")?.state).toBe("ok");
    expect(s.fleet[0]!.state).toBe("anomaly");
  });

  it("exports the state as a metric and raises an alert", async () => {
    const metrics = await (await fetch(new URL("metrics", running.url))).text();
    expect(metrics).toMatch(/hak_fleet_certificate_state\{[^}]*identity="w1"[^}]*profile="kubelet"[^}]*state="anomaly"\} 1/);
    expect(metrics).toMatch(/hak_fleet_certificates\{cluster="anomaly",state="anomaly"\} 2/);
    for (let i = 0; i < 50 && payloads.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const alerts = payloads.flatMap((p) => p.alerts.map((a) => `${a.status} ${a.labels.alertname} ${a.labels.identity}/${a.labels.profile}`));
    expect(alerts).toContain("firing HakFleetCertificateAnomaly w1/kubelet");
    const page = await (await fetch(running.url)).text();
    expect(page).toMatch(/data-state="anomaly"/);
  });

  it("hak-pki status lists them too, with the reason", async () => {
    const r = await readStatus(auditor, inv);
    expect(r.anomalies.map((a) => `${a.certificate}/${a.host ?? ""}`).sort()).toEqual(["kube-proxy/", "kubelet/w1"]);
    expect(renderStatus(r)).toMatch(/ANOMALIES[\s\S]*kubelet\s+w1\s+\S+.*lifetime \d+s exceeds leafTtl/);
  });
});
