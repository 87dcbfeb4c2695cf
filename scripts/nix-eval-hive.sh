#!/usr/bin/env bash
# Evaluates the flake's colmenaHive as Colmena does, for every host plan of a
# hive, and checks the NixOS side against the plans (test/nix/eval-hive.nix,
# test/nix/stub-nixos.nix): Colmena's real makeHive (its src/nix/hive/eval.nix
# of the release given), nixpkgs' real lib.evalModules with the real option
# types of every NixOS option hak sets, then per host:
#   - no failed assertion; the hive schema of that Colmena release;
#   - every plan service's unit: ExecStart = the program's binary + exactly
#     the plan's args (parsed back from systemd's quoting); signal reload ->
#     ExecReload sends the plan's signal and its files are reload triggers
#     (never restart triggers); restart -> restart triggers;
#   - the agent's config == the plan's agent; files, users, groups as planned;
#   - firewall: ports without `from` open, every `from` rule only for its
#     sources; keepalived's script_user exists; no nixpkgs services.kubernetes;
#   - the package: every lock entry fetched by integrity (file: tarballs).
# Then negative controls that must fail (wrong option type, bad unit name,
# an option nixpkgs does not have here, a program with no package).
# With OTHER_COLMENA_SRC set, also says whether that release's CLI accepts
# the flake (processFlake). Local only: CI has neither nixpkgs.lib nor Colmena.
#
#   scripts/nix-eval-hive.sh NIXPKGS_LIB_DIR COLMENA_SRC_DIR PLANS_DIR
#
# NIXPKGS_LIB_DIR: a nix-community/nixpkgs.lib checkout (or its lib/);
# COLMENA_SRC_DIR: a Colmena checkout (src/nix/hive inside);
# PLANS_DIR: hive/plans as `hak-deploy hive` writes it.
# Exit 0 all checks pass, 1 a check failed, 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

usage="usage: scripts/nix-eval-hive.sh NIXPKGS_LIB_DIR COLMENA_SRC_DIR PLANS_DIR"
lib_dir="${1:?$usage}"
colmena="${2:?$usage}"
plans="${3:?$usage}"
[ -f "$lib_dir/default.nix" ] || lib_dir="$lib_dir/lib"
[ -f "$lib_dir/default.nix" ] || { echo "no nixpkgs lib at $1 (expected lib/default.nix)" >&2; exit 2; }
[ -f "$colmena/src/nix/hive/eval.nix" ] || { echo "no Colmena source at $2 (expected src/nix/hive/eval.nix)" >&2; exit 2; }
host_plans=$(grep -l '"schema": "hak.plan/v1"' "$3"/*.json 2>/dev/null || true)
[ -n "$host_plans" ] || { echo "no host plans (*.json of schema hak.plan/v1) in $3" >&2; exit 2; }
lib_dir="$(realpath "$lib_dir")"; colmena="$(realpath "$colmena")"; plans="$(realpath "$plans")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/state" "$work/log" "$work/conf" "$work/flake/hive" "$work/shim/nixos/lib"
# The flake as an operator's checkout has it: flake.nix, nix/, the lock, the plans.
cp flake.nix package.json package-lock.json "$work/flake/"
cp -r nix "$work/flake/"
cp -r "$plans" "$work/flake/hive/plans"
# The nixpkgs stand-in's entry points (they name absolute paths, so they are written here).
stub="import $root/test/nix/stub-nixos.nix { lib = import $lib_dir; }"
echo "{ ... }: ($stub).pkgs // { lib = import $lib_dir; path = $work/shim; system = \"x86_64-linux\"; overlays = [ ]; config = { }; }" > "$work/shim/default.nix"
echo "($stub).evalConfig" > "$work/shim/nixos/lib/eval-config.nix"

export NIX_STATE_DIR="$work/state" NIX_LOG_DIR="$work/log" NIX_CONF_DIR="$work/conf" NIX_REMOTE=
evaluate() {
  # $1: output file, $2: extra modules (a Nix list expression)
  nix-instantiate --store dummy:// --eval --strict --json \
    --arg nixpkgsLib "$lib_dir" --arg colmenaSrc "$colmena" --arg flakeDir "$work/flake" --arg shimDir "$work/shim" \
    --arg extraModules "${2:-[ ]}" test/nix/eval-hive.nix > "$1"
}

start=$(date +%s.%N)
evaluate "$work/eval.json"
end=$(date +%s.%N)
echo "evaluated $(echo "$host_plans" | wc -l) hosts through $(basename "$colmena")'s makeHive in $(echo "$end - $start" | bc) s"

failed=0
control() {
  # A negative control: evaluation must fail, with stderr matching $3.
  local name="$1" modules="$2" expect="$3"
  if evaluate "$work/neg.json" "$modules" 2> "$work/neg.err"; then
    echo "NEGATIVE CONTROL PASSED (it must fail): $name"; failed=$((failed + 1))
  elif grep -q -- "$expect" "$work/neg.err"; then
    echo "negative control fails as it must: $name: $(grep -m1 -- "$expect" "$work/neg.err" | sed 's/^ *//' | cut -c1-160)"
  else
    echo "NEGATIVE CONTROL failed for another reason: $name"; tail -5 "$work/neg.err"; failed=$((failed + 1))
  fi
}
# Colmena's CLI of another release reading this flake: its processFlake.
other="${OTHER_COLMENA_SRC:-}"
if [ -n "$other" ]; then
  if nix-instantiate --store dummy:// --eval --strict --json --arg nixpkgsLib "$lib_dir" --arg colmenaSrc "$colmena" \
    --arg flakeDir "$work/flake" --arg shimDir "$work/shim" --arg cliSrc "$(realpath "$other")" \
    -A cliAccepts test/nix/eval-hive.nix > "$work/cli.json" 2> "$work/cli.err"; then
    echo "Colmena CLI of $(basename "$other") accepts this flake's colmenaHive (schema $(cat "$work/cli.json"))"
  else
    echo "Colmena CLI of $(basename "$other") refuses this flake: $(grep -m1 -A1 "isn't compatible\|error" "$work/cli.err" | tr -s ' \n' ' ' | cut -c1-200)"
  fi
fi

control "a port given as a string" '[ { networking.firewall.allowedTCPPorts = [ "6443" ]; } ]' "is not of type"
control "a unit name without its type" '[ { systemd.services.kube-apiserver.wantedBy = [ "multi-user" ]; } ]' "is not of type"
control "an option the NixOS modules do not have (nixpkgs' kubernetes)" '[ { services.kubernetes.addons.dns.enable = false; } ]' "does not exist"
control "a plan program no package provides" '[ ({ lib, ... }: { hak.plan = lib.mkForce ((import '"$root"'/nix/lib).readPlan '"$(realpath "$(echo "$host_plans" | head -1)")"' // { services = [ { name = "x"; program = "no-such-program"; args = [ ]; after = [ ]; reload.kind = "none"; description = "x"; } ]; }); }) ]' "maps to no package"

node --input-type=module - "$work/eval.json" "$(basename "$colmena")" "$failed" "$plans" <<'JS'
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
const [file, release, negFailed, plansDir] = process.argv.slice(2);
const { schema, nodes, package: pkg } = JSON.parse(readFileSync(file, "utf8"));
let failed = Number(negFailed);
const fail = (m) => { console.log(`  FAILED: ${m}`); failed++; };
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** systemd's ExecStart words: double-quoted, C escapes, %% and $$ doubled. */
function words(cmd) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of cmd.matchAll(re)) {
    const w = m[1] !== undefined ? m[1].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c)) : m[2];
    out.push(w.replace(/%%/g, "%").replace(/\$\$/g, "$"));
  }
  return out;
}

console.log(`hive schema ${schema}`);
let units = 0;
for (const [name, n] of Object.entries(nodes)) {
  console.log(`== ${name} (${n.role})`);
  for (const m of n.failedAssertions) fail(`assertion: ${m}`);
  if (!n.agentSettingsEqualPlan) fail("the agent's config is not the plan's agent");
  if (n.hasKubernetesModule) fail("nixpkgs' services.kubernetes is present");
  for (const [svc, s] of Object.entries(n.services)) {
    units++;
    const [bin, ...args] = words(s.execStart);
    if (!same(args, s.planArgs)) fail(`${svc}: ExecStart args ${JSON.stringify(args)} != plan ${JSON.stringify(s.planArgs)}`);
    if (!/\/s?bin\//.test(bin) || !bin.endsWith(`/${s.program}`)) fail(`${svc}: binary ${bin} is not ${s.program}`);
    const files = n.planFiles.filter((f) => f.usedBy?.includes?.(svc)).length;
    if (s.reload.kind === "signal") {
      if (!s.execReload?.includes(`kill -s ${s.reload.signal} $MAINPID`)) fail(`${svc}: ExecReload ${s.execReload} does not send ${s.reload.signal}`);
      if (s.restartTriggers !== 0) fail(`${svc}: reloads with ${s.reload.signal} but has restart triggers`);
    }
    if (s.reload.kind === "restart" && s.reloadTriggers !== 0) fail(`${svc}: restarts but has reload triggers`);
    if (!s.after.includes("hak-agent.service")) fail(`${svc}: not ordered after hak-agent`);
    console.log(`  ${svc}: ExecStart = ${s.program} + the plan's ${args.length} args${s.reload.kind === "signal" ? `; reload ${s.reload.signal} (${s.reloadTriggers} reload triggers, 0 restart)` : `; ${s.reload.kind} (${s.restartTriggers} restart triggers)`}`);
  }
  for (const f of n.planFiles) {
    const e = n.etc[f.path.replace(/^\/etc\//, "")];
    if (!e) { fail(`file ${f.path} not in environment.etc`); continue; }
    if (e.text !== f.content || e.mode !== f.mode) fail(`file ${f.path}: content or mode differ from the plan`);
    const su = /script_user (\S+)/.exec(f.content);
    if (su && !n.users[su[1]]) fail(`${f.path}: script_user ${su[1]} is not a user of the host`);
    if (su) console.log(`  keepalived script_user ${su[1]}: a system user of the host; enable_script_security ${/enable_script_security/.test(f.content) ? "on" : "OFF"}`);
  }
  // A consumer that is not root must be able to reach its files: every
  // planned folder above them lets others traverse (x) unless it owns it.
  const plan = JSON.parse(readFileSync(join(plansDir, `${name}.json`), "utf8"));
  for (const o of plan.agent.outputs.filter((o) => o.owner !== "root")) {
    for (const f of [o.keyFile, o.certFile, o.path].filter(Boolean)) {
      for (let d = dirname(f); d !== "/"; d = dirname(d)) {
        const dir = plan.directories.find((x) => x.path === d);
        if (dir && (dir.owner ?? "root") !== o.owner && (parseInt(dir.mode, 8) & 0o001) === 0)
          fail(`${o.name}: ${o.owner} cannot reach ${f}: ${d} is ${dir.mode} ${dir.owner ?? "root"}`);
      }
    }
  }
  const open = (rules) => rules.filter((r) => !r.from);
  const fw = n.firewall;
  for (const [proto, ports, ranges] of [["tcp", fw.allowedTCPPorts, fw.allowedTCPPortRanges], ["udp", fw.allowedUDPPorts, fw.allowedUDPPortRanges]]) {
    const rules = n.planFirewall[proto];
    if (!same(ports, open(rules).filter((r) => r.port).map((r) => r.port))) fail(`${proto}: open ports ${ports} differ from the plan`);
    if (!same(ranges, open(rules).filter((r) => r.range).map((r) => ({ from: r.range[0], to: r.range[1] })))) fail(`${proto}: open ranges differ from the plan`);
    for (const r of rules.filter((r) => r.from)) {
      if (ports.includes(r.port)) fail(`${proto} ${r.port} is open to everyone, the plan allows ${r.from}`);
      for (const cidr of r.from)
        if (!fw.extraCommands.includes(`-p ${proto} -s ${cidr} --dport ${r.port ?? r.range.join(":")} -j nixos-fw-accept`)) fail(`${proto} ${r.port}: no rule for ${cidr}`);
    }
  }
  if (n.role === "worker" && !fw.allowedTCPPortRanges.some((r) => r.from === 30000 && r.to === 32767)) fail("NodePorts 30000-32767 not open");
  const restricted = [...n.planFirewall.tcp, ...n.planFirewall.udp].filter((r) => r.from).map((r) => `${r.port ?? r.range.join("-")}`);
  console.log(`  firewall: open tcp ${fw.allowedTCPPorts.join(",") || "-"} ${fw.allowedTCPPortRanges.map((r) => `${r.from}-${r.to}`).join(",")}, udp ${fw.allowedUDPPorts.join(",") || "-"} ${fw.allowedUDPPortRanges.map((r) => `${r.from}-${r.to}`).join(",")}; from the plan's sources only: ${[...new Set(restricted)].join(",") || "-"}`);
}
const v = JSON.parse(readFileSync(file, "utf8")).vault;
console.log(`== OpenBao node (nixosModules.vault)`);
for (const m of v.failedAssertions) fail(`vault assertion: ${m}`);
if (v.loadCredential !== null) fail("OpenBao's TLS files come through LoadCredential (copied once at start)");
if (!v.listener.tls_cert_file.startsWith("/var/lib/hak-openbao-tls/") || !v.listener.tls_key_file.startsWith("/var/lib/hak-openbao-tls/")) fail(`listener TLS not read by path: ${JSON.stringify(v.listener)}`);
if (!v.pathUnit.PathChanged?.includes(v.listener.tls_cert_file)) fail("no path unit watching the certificate");
if (!v.reloadUnit.endsWith("systemctl reload openbao.service")) fail(`the path unit does not reload openbao: ${v.reloadUnit}`);
console.log(`  listener ${v.listener.tls_cert_file} / ${v.listener.tls_key_file} read by path (no LoadCredential); group ${v.supplementaryGroups}; a change of ${v.pathUnit.PathChanged.join(", ")} runs: ${v.reloadUnit.replace(/^.*\/bin\//, "")} (SIGHUP)`);
const lock = Object.entries(pkg.resolved).filter(([k]) => k !== "");
const byIntegrity = lock.filter(([, v]) => v?.startsWith("file:/nix/store/")).length;
if (byIntegrity !== lock.length) fail(`package: ${lock.length - byIntegrity} lock entries not fetched`);
console.log(`\npackage ${pkg.name}: ${byIntegrity}/${lock.length} lock entries fetched as fixed-output tarballs (hash = their integrity)`);
console.log(`${release}: ${Object.keys(nodes).length} hosts, ${units} plan services checked, ${failed} problems`);
process.exit(failed ? 1 : 0);
JS
