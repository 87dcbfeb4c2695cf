import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentConfig } from "../../src/agent/config.js";
import { parseInventoryText, type Inventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { evalNixJson, NIX_DIR, nixInstantiate, nixPath, nixSandbox, nixString, writeInventoryJson, type NixSandbox } from "./nix.js";

/**
 * The agent configuration the NixOS modules render for every host of the
 * demo inventory, composed from nix/lib as cluster.nix and hak-agent.nix
 * compose it (agentSettings with the modules' default paths, and
 * renderOutputs of agentOutputs), then read by the agent's own schema
 * (src/agent/config.ts parseAgentConfig): one contract, two sides.
 */

const VAULT = ["https://127.0.0.5:8200", "https://127.0.0.6:8200", "https://127.0.0.7:8200"];

function renderedConfigs(sb: NixSandbox, inv: Inventory, worker = "{ }"): Record<string, Record<string, unknown>> {
  const file = writeInventoryJson(sb, `agent-${inv.name}`, inv);
  return evalNixJson(
    sb,
    `let
      lib = import ${nixPath(join(NIX_DIR, "lib"))};
      inv = lib.readInventory ${nixPath(file)};
      config = h:
        lib.agentSettings inv h { vaultAddresses = [ ${VAULT.map(nixString).join(" ")} ]; vaultCaFile = "/etc/hak/vault-ca.crt"; }
        // { outputs = lib.renderOutputs (lib.agentOutputs inv h ${worker}); };
    in builtins.listToAttrs (map (h: { inherit (h) name; value = config h; }) inv.hosts)`,
  ) as Record<string, Record<string, unknown>>;
}

describe("the agent config the modules render", () => {
  let sb: NixSandbox;
  let inv: Inventory;
  beforeAll(async () => {
    nixInstantiate();
    sb = nixSandbox();
    const file = join(PROJECT_ROOT, "examples", "demo-cluster.yaml");
    inv = parseInventoryText(readFileSync(file, "utf8"), file);
  });
  afterAll(() => sb?.cleanup());

  it("names the host, binds Vault traffic to its address, logs in as hak-<cluster>-<host>, and keeps secrets out", () => {
    const configs = renderedConfigs(sb, inv);
    expect(Object.keys(configs).sort()).toEqual(inv.hosts.map((h) => h.name).sort());
    for (const h of inv.hosts) {
      const c = configs[h.name]!;
      expect(c.host).toBe(h.name);
      expect(c.vault).toEqual({ addresses: VAULT, sourceAddress: h.address, caFile: "/etc/hak/vault-ca.crt" });
      expect(c.auth).toMatchObject({ roleId: `hak-demo-${h.name}`, certRole: h.name, identityOutput: "host-identity" });
      // Paths only: nothing in the (world-readable) config looks like key material or a token.
      expect(JSON.stringify(c)).not.toMatch(/PRIVATE KEY|BEGIN CERT|hvs\.|s\.[A-Za-z0-9]{20}/);
    }
    const cp = configs.controlplane1!.outputs as { name: string; type: string; certificate?: string }[];
    expect(cp.find((o) => o.name === "scheduler-kubeconfig")).toMatchObject({ type: "kubeconfig", certificate: "scheduler" });
  });

  it("is accepted by the agent's schema (src/agent/config.ts) for every host and both CNI choices", () => {
    for (const worker of ["{ }", '{ cni = "cilium"; kubeProxy = false; }']) {
      const configs = renderedConfigs(sb, inv, worker);
      for (const [name, doc] of Object.entries(configs)) {
        const cfg = parseAgentConfig(doc, `rendered config of ${name}`);
        expect(cfg.outputs.length, name).toBeGreaterThan(0);
      }
    }
  });

  it("the schema check can fail: a rendered config with a broken output is refused", () => {
    const doc = renderedConfigs(sb, inv).etcd1! as { outputs: Record<string, unknown>[] };
    doc.outputs[0] = { ...doc.outputs[0], keyFile: "relative/key.pem" };
    expect(() => parseAgentConfig(doc, "broken")).toThrow(/keyFile/);
  });
});
