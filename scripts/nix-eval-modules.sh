#!/usr/bin/env bash
# Evaluates hak's NixOS modules for every host of an inventory with nixpkgs'
# lib.evalModules (test/nix/eval-modules.nix) and prints what they produce:
# failed assertions, the agent's outputs and unit ordering, the daemons'
# command lines. Local only: it needs a checkout of nixpkgs' lib
# (nix-community/nixpkgs.lib), which CI cannot fetch; full nixpkgs works too.
#
#   scripts/nix-eval-modules.sh NIXPKGS_LIB_DIR [INVENTORY.yaml]
#
# NIXPKGS_LIB_DIR is the folder holding lib/ (or lib/ itself). The inventory
# defaults to examples/demo-cluster.yaml, given three Vault addresses if it
# has none (the agent needs one). Exit 1 when any host fails an assertion.
set -euo pipefail
cd "$(dirname "$0")/.."

lib_dir="${1:?usage: scripts/nix-eval-modules.sh NIXPKGS_LIB_DIR [INVENTORY.yaml]}"
[ -f "$lib_dir/default.nix" ] || lib_dir="$lib_dir/lib"
[ -f "$lib_dir/default.nix" ] || { echo "no nixpkgs lib at $1 (expected lib/default.nix)" >&2; exit 2; }
inventory="${2:-examples/demo-cluster.yaml}"
[ -f dist/common/inventory.js ] || npm run -s build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/state" "$work/log" "$work/conf"

# The inventory JSON exactly as `hak-deploy hive` writes it (zod output).
node --input-type=module - "$inventory" > "$work/inventory.json" <<'JS'
import { loadInventory } from "./dist/common/inventory.js";
const inv = loadInventory(process.argv[2]);
inv.vault ??= { addresses: ["https://127.0.0.5:8200", "https://127.0.0.6:8200", "https://127.0.0.7:8200"] };
process.stdout.write(JSON.stringify(inv, null, 2) + "\n");
JS

NIX_STATE_DIR="$work/state" NIX_LOG_DIR="$work/log" NIX_CONF_DIR="$work/conf" NIX_REMOTE= \
  nix-instantiate --store dummy:// --eval --strict --json \
  --arg nixpkgsLib "$(realpath "$lib_dir")" --arg inventoryFile "$work/inventory.json" \
  test/nix/eval-modules.nix > "$work/eval.json"

node --input-type=module - "$work/eval.json" <<'JS'
import { existsSync, readFileSync } from "node:fs";
// The agent's own schema, when the agent is built (dist/agent/config.js).
const schema = existsSync("dist/agent/config.js") ? await import(`${process.cwd()}/dist/agent/config.js`) : undefined;
const { hosts, variants } = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failed = 0;
for (const [name, h] of Object.entries(hosts)) {
  console.log(`\n== ${name} (${h.role})`);
  for (const m of h.failedAssertions) { console.log(`  ASSERTION FAILED: ${m}`); failed++; }
  console.log(`  agent outputs: ${h.agentSettings.outputs.map((o) => `${o.name}[${o.type} ${o.owner}:${o.group} ${o.mode}]`).join(", ")}`);
  console.log(`  agent before: ${h.agentUnit.before.join(", ") || "(nothing)"}`);
  if (schema) {
    try { schema.parseAgentConfig(h.agentSettings, `${name}: rendered agent config`); console.log("  agent config: accepted by the agent's schema"); }
    catch (err) { console.log(`  AGENT CONFIG REFUSED: ${err.message}`); failed++; }
  }
  for (const [unit, exec] of Object.entries(h.execStart)) if (exec) console.log(`  ${unit}: ${exec}`);
  if (h.etcd) console.log(`  etcd: initialCluster=${h.etcd.initialCluster.join(",")} clientCertAuth=${h.etcd.clientCertAuth} peerClientCertAuth=${h.etcd.peerClientCertAuth}`);
  if (h.keepalived) for (const [n, i] of Object.entries(h.keepalived)) console.log(`  keepalived ${n}: ${i.state} priority ${i.priority} vip ${i.virtualIps.map((v) => v.addr)} unicast peers ${i.unicastPeers}`);
  if (h.kubelet) console.log(`  kubelet: kubeconfig cert ${h.kubelet.kubeconfig.certFile}, serving ${h.kubelet.tlsCertFile}, clusterDns ${h.kubelet.clusterDns}`);
}
const all = Object.values(hosts).flatMap((h) => h.agentSettings.outputs);
const notUnderState = all.flatMap((o) => [o.certFile, o.keyFile, o.caFile, o.path]).filter((p) => p && !p.startsWith("/var/lib/hak-agent/"));
if (notUnderState.length) { console.log(`\noutputs outside /var/lib/hak-agent: ${notUnderState.join(", ")}`); failed++; }
console.log("\n== variants");
const w = variants["worker-cilium-no-kube-proxy"];
console.log(`  worker with cilium, no kube-proxy: failed ${JSON.stringify(w.failedAssertions)}; kubelet cni ${JSON.stringify(w.kubelet.cni)}; agent before: ${w.agentUnit.before.join(", ")}`);
const lb = variants["loadbalancer-vrrp-auth"];
console.log(`  load balancer with VRRP auth: failed ${JSON.stringify(lb.failedAssertions)}; extraConfig: ${JSON.stringify(lb.keepalived["kube-apiserver"].extraConfig)}`);
const lbBad = variants["loadbalancer-secret-in-store"];
console.log(`  VRRP secret in the store: failed ${JSON.stringify(lbBad.failedAssertions)}`);
if (lbBad.failedAssertions.length !== 1) failed++;
const v = variants.vault;
console.log(`  vault node: failed ${JSON.stringify(v.failedAssertions)}; retry_join ${v.settings.storage.raft.retry_join.map((j) => j.leader_api_addr)}; tls ${v.settings.listener.default.tls_key_file}; credentials ${v.credentials}`);
if (v.failedAssertions.length) failed++;
console.log(`  vault with two peers: failed ${JSON.stringify(variants["vault-two-peers"].failedAssertions)}`);
if (variants["vault-two-peers"].failedAssertions.length !== 1) failed++;
console.log(`\n${Object.keys(hosts).length} hosts evaluated, ${all.length} agent outputs, ${failed} problems`);
process.exit(failed ? 1 : 0);
JS
