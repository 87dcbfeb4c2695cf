import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { loadAgentConfig, parseAgentConfig } from "../../src/agent/config.js";

/** The config is a contract with the NixOS module: the documented example parses, every error names its field path. */

const docExample = (): Record<string, unknown> => {
  const md = readFileSync(join(PROJECT_ROOT, "docs", "agent-config.md"), "utf8");
  const json = /```json\n([\s\S]+?)\n```/.exec(md)![1]!;
  const doc = JSON.parse(json) as { outputs: Record<string, unknown>[] };
  // The example leaves out the certificate output its kubeconfig names; add it.
  doc.outputs.push({
    type: "certificate",
    name: "scheduler",
    profile: "scheduler",
    commonName: "system:kube-scheduler",
    certFile: "/var/lib/hak-agent/certs/scheduler.crt",
    keyFile: "/var/lib/hak-agent/certs/scheduler.key",
    caFile: "/var/lib/hak-agent/certs/kubernetes-ca.crt",
  });
  return doc as unknown as Record<string, unknown>;
};

function errorOf(doc: unknown): string {
  try {
    parseAgentConfig(doc, "agent.json");
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected an error");
}

describe("agent config", () => {
  it("parses the documented example, with defaults filled in", () => {
    const cfg = parseAgentConfig(docExample());
    expect(cfg.host).toBe("etcd1");
    expect(cfg.vault.timeout).toBe(15);
    expect(cfg.auth.approleMount).toBe("approle");
    expect(cfg.auth.certMount).toBe("cert");
    expect(cfg.renewal).toEqual({ jitter: 0.1, backoffMin: 1, backoffMax: 300, debounce: 2, secretInterval: 600, probeInterval: 2, recoverySpread: 3 });
    const server = cfg.outputs[1]!;
    expect(server.type === "certificate" && [server.keyType, server.mode, server.owner]).toEqual(["ec", 0o600, "etcd"]);
    const sa = cfg.outputs[3]!;
    expect(sa.actions).toEqual([{ type: "signal", unit: "kube-apiserver.service", signal: "SIGHUP", timeout: 30 }]);
  });

  const base = () => docExample() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test edits of a JSON document

  it.each<[string, (d: Record<string, any>) => void, RegExp]>([ // eslint-disable-line @typescript-eslint/no-explicit-any
    ["relative key path", (d) => (d.outputs[1].keyFile = "certs/etcd.key"), /^outputs\[1\]\.keyFile: must be an absolute path$/m],
    ["unknown profile", (d) => (d.outputs[1].profile = "etcd-client"), /^outputs\[1\]\.profile: must be one of etcd-server/m],
    ["bad key type", (d) => (d.outputs[1].keyType = "ed25519"), /^outputs\[1\]\.keyType: Invalid enum value/m],
    ["world-writable mode", (d) => (d.outputs[1].mode = "0666"), /^outputs\[1\]\.mode: must not be writable by others$/m],
    ["mode not octal", (d) => (d.outputs[1].mode = "rw-------"), /^outputs\[1\]\.mode: must be an octal mode/m],
    ["bad IP SAN", (d) => (d.outputs[1].ip = ["10.240.0.300"]), /^outputs\[1\]\.ip\[0\]: not an IPv4\/IPv6 address$/m],
    ["bad duration", (d) => (d.renewal.backoffMax = "5 minutes"), /^renewal\.backoffMax: not a duration/m],
    ["backoff max below min", (d) => (d.renewal.backoffMin = "10m"), /^renewal\.backoffMax: must not be shorter than backoffMin$/m],
    ["no Vault address", (d) => (d.vault.addresses = []), /^vault\.addresses: at least one Vault address is needed$/m],
    ["unknown field", (d) => (d.vault.token = "s.xxx"), /^vault\.token: unknown field "token" in vault \(a typo\? remove it or fix its name\)$/m],
    ["duplicate output name", (d) => (d.outputs[2].name = "etcd-server"), /^outputs\[2\]\.name: duplicate output name "etcd-server" \(also outputs\[1\]\)$/m],
    ["two outputs, one file", (d) => (d.outputs[3].path = d.outputs[1].keyFile), /^outputs\[3\]\.path: \/var\/lib\/hak-agent\/certs\/etcd-server\.key is also written by outputs\[1\]\.keyFile$/m],
    ["kubeconfig without its certificate", (d) => (d.outputs[2].certificate = "nope"), /^outputs\[2\]\.certificate: no certificate output named "nope"$/m],
    ["identity output missing", (d) => (d.auth.identityOutput = "etcd-peer"), /^auth\.identityOutput: needs a certificate output named "etcd-peer" with profile host-identity/m],
    ["identity of another host", (d) => (d.outputs[0].commonName = "etcd2"), /^outputs\[0\]\.commonName: the host identity's common name must be the host name "etcd1"$/m],
    ["bad action", (d) => (d.outputs[1].actions = [{ type: "reload", unit: "etcd" }]), /^outputs\[1\]\.actions\[0\]\.type: Invalid discriminator value/m],
    ["bad listen", (d) => (d.listen = "9180"), /^listen: must be "address:port"/m],
    // Bounds (issue 10).
    ["Vault address not http(s)", (d) => (d.vault.addresses = ["file:///etc/passwd"]), /^vault\.addresses\[0\]: must be an http\(s\) URL, not file:$/m],
    ["port 0", (d) => (d.listen = "127.0.0.1:0"), /^listen: the port must be between 1 and 65535$/m],
    ["port 70000", (d) => (d.listen = "127.0.0.1:70000"), /^listen: the port must be between 1 and 65535$/m],
    ["key readable by others", (d) => (d.outputs[1].mode = "0644"), /^outputs\[1\]\.mode: 0644 lets others read a private key or secret/m],
    ["mode the owner cannot read", (d) => (d.outputs[1].mode = "0040"), /^outputs\[1\]\.mode: must let the owner read the file$/m],
    ["NUL byte in a path", (d) => (d.outputs[1].keyFile = "/var/lib/k\u0000ey"), /^outputs\[1\]\.keyFile: contains a NUL byte$/m],
    ["null", (d) => (d.vault.caFile = null), /^vault\.caFile: is null; give a value/m],
  ])("%s: names the field path", (_name, edit, re) => {
    const d = base();
    edit(d);
    expect(errorOf(d)).toMatch(re);
  });

  it("refuses a configured path that is a FIFO or a device instead of blocking on it", () => {
    const dir = mkdtempSync(join(tmpdir(), "hak-cfg-"));
    try {
      const fifo = join(dir, "key.fifo");
      execFileSync("mkfifo", [fifo]);
      for (const [field, path, kind] of [
        ["keyFile", fifo, "a FIFO"],
        ["certFile", "/dev/zero", "a device"],
      ] as const) {
        const d = base();
        d.outputs[1][field] = path;
        const file = join(dir, "agent.json");
        writeFileSync(file, JSON.stringify(d));
        expect(() => loadAgentConfig(file)).toThrow(new RegExp(`outputs\\[1\\]\\.${field}: ${path.replace(/[/.]/g, "\\$&")} is ${kind}, not a regular file`));
      }
      // The config file itself, too.
      expect(() => loadAgentConfig(fifo)).toThrow(/cannot read the agent config: a FIFO, not a regular file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lists every problem at once", () => {
    const msg = errorOf({ host: "Etcd1", vault: {}, auth: {}, outputs: [] });
    expect(msg).toMatch(/^\d+ problems:/);
    for (const p of ["host:", "vault.addresses:", "auth.roleId:", "auth.secretIdFile:", "outputs:"]) expect(msg).toContain(p);
  });
});
