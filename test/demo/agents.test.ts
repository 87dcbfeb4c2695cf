import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { profilesForRole } from "../../src/common/profiles.js";
import { parseAgentConfig } from "../../src/agent/config.js";
import { demoAgentConfig } from "../../src/demo/agents.js";
import { localDemoInventory } from "../../src/demo/inventory.js";

const inv = localDemoInventory(loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml")), { prefix: "127.0.240", vaultAddress: "https://127.0.0.1:8200" });

describe("demo agent configs", () => {
  it("give each host the outputs of its role, inside its own folder, from its own address", () => {
    for (const host of inv.hosts) {
      const input = demoAgentConfig(inv, host, "/demo", { address: "https://127.0.0.1:8200", caFile: "/demo/ca.crt" });
      // What the agent itself accepts (it validates its config the same way at start).
      expect(() => parseAgentConfig(input, host.name)).not.toThrow();
      const cfg = input as {
        host: string;
        vault: { sourceAddress: string };
        auth: { roleId: string; secretIdFile: string };
        listen: string;
        outputs: { type: string; profile?: string; certFile?: string; keyFile?: string; path?: string; ip?: string[] }[];
      };
      expect(cfg.host).toBe(host.name);
      expect(cfg.vault.sourceAddress).toBe(host.address);
      expect(cfg.listen).toBe(`${host.address}:9180`);
      expect(cfg.auth.roleId).toBe(`hak-demo-${host.name}`);
      const certs = cfg.outputs.filter((x) => x.type === "certificate");
      expect(certs.map((c) => c.profile)).toEqual(profilesForRole(host.role).map((p) => p.name));
      for (const file of [cfg.auth.secretIdFile, ...cfg.outputs.flatMap((x) => [x.certFile, x.keyFile, x.path].filter((f): f is string => !!f))]) {
        expect(file.startsWith(`/demo/hosts/${host.name}/`), file).toBe(true);
      }
      expect(cfg.outputs.some((x) => x.type === "secret")).toBe(host.role === "controlplane");
      // The agent refuses two outputs writing one file: one CA bundle writer per CA.
      const written = cfg.outputs.flatMap((x) => [x.certFile, x.keyFile, x.path, (x as { caFile?: string }).caFile].filter((f): f is string => !!f));
      expect(new Set(written).size).toBe(written.length);
      const etcdServer = certs.find((c) => c.profile === "etcd-server");
      if (etcdServer) expect(etcdServer.ip).toContain(host.address);
    }
  });
});
