import { statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { durationSchema } from "../common/duration.js";
import { fileKind, formatPath, InputError, parseInput, readInputFile } from "../common/errors.js";
import { vaultAddress } from "../common/inventory.js";
import { isIpAddress } from "../common/ip.js";
import { APPROLE_MOUNT, CERT_AUTH_MOUNT, KV_MOUNT } from "../common/names.js";
import { PROFILE_NAMES } from "../common/profiles.js";

/**
 * The agent's one configuration file (JSON; the NixOS module renders
 * `services.hak-agent.settings` to exactly this). Field names are a contract
 * with nix/ and docs/agent-config.md: add fields, never rename them.
 * Durations are Vault-style strings ("90s", "15m", "1h") or seconds.
 * Secrets never appear here, only paths to them.
 */

const absPath = z.string().min(1).refine(isAbsolute, "must be an absolute path");
const outputName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/, "must be 1-63 characters: letters, digits, '.', '_', '-'");
/** A user or group: a name from /etc/passwd or /etc/group, or a numeric id. */
const principal = z.union([z.string().regex(/^[a-z_][a-z0-9_.-]*\$?$/i, "must be a user/group name or a numeric id"), z.number().int().min(0)]);
const fileMode = z
  .string()
  .regex(/^0?[0-7]{3}$/, 'must be an octal mode such as "0600" or "0640"')
  .transform((s) => parseInt(s, 8))
  .refine((m) => (m & 0o002) === 0, "must not be writable by others")
  .refine((m) => (m & 0o400) !== 0, "must let the owner read the file");
/** Others may never read a private key: checked per output kind (a secret output may be a public key). */
const OTHERS_READ = 0o004;

/** Owner, group and mode of the files an output writes. */
const fileOwnership = {
  owner: principal.default(0),
  group: principal.default(0),
  /** Mode of files holding a key or secret; public files (cert, CA) get this mode plus read for everyone. */
  mode: fileMode.default("0600"),
};

const timeout = durationSchema.default("30s");

export const actionSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("reload-or-restart"), unit: z.string().min(1), timeout }).strict(),
  z.object({ type: z.literal("restart"), unit: z.string().min(1), timeout }).strict(),
  z
    .object({
      type: z.literal("signal"),
      unit: z.string().min(1),
      signal: z.string().regex(/^SIG[A-Z0-9]+$/, 'must be a signal name such as "SIGHUP"').default("SIGHUP"),
      timeout,
    })
    .strict(),
  z.object({ type: z.literal("command"), argv: z.array(z.string().min(1)).min(1, "needs at least the program"), timeout }).strict(),
  // A GET with a client pair, run at once after the write (not debounced), for its side effect on the
  // server: see httpGetBurst in actions.ts. Any HTTP answer counts as run.
  z
    .object({
      type: z.literal("http-get"),
      url: z.string().url().refine((u) => u.startsWith("https://"), "must be an https:// URL"),
      certFile: absPath,
      keyFile: absPath,
      caFile: absPath,
      /** Seconds to repeat it for, every 20 ms (0: once). */
      burst: z.number().min(0).max(10).default(0),
      /** Sent as an upgrade request (Connection: Upgrade), which a Kubernetes proxy dials a new backend connection for. */
      upgrade: z.boolean().default(false),
      timeout,
    })
    .strict(),
]);

const actions = z.array(actionSchema).default([]);

export const certificateOutputSchema = z
  .object({
    type: z.literal("certificate"),
    name: outputName,
    profile: z.enum(PROFILE_NAMES, { errorMap: () => ({ message: `must be one of ${PROFILE_NAMES.join(", ")}` }) }),
    commonName: z.string().min(1),
    dns: z.array(z.string().min(1)).default([]),
    ip: z.array(z.string().refine(isIpAddress, "not an IPv4/IPv6 address")).default([]),
    keyType: z.enum(["ec", "rsa"]).default("ec"),
    /** Requested lifetime; the role's max_ttl caps it. Default: the role's ttl. */
    ttl: durationSchema.optional(),
    certFile: absPath,
    keyFile: absPath,
    caFile: absPath.optional(),
    /** Issuing CA up to the root. */
    chainFile: absPath.optional(),
    /** Key and certificate in one file (key first), replaced with one rename. */
    bundleFile: absPath.optional(),
    ...fileOwnership,
    actions,
  })
  .strict();

export const kubeconfigOutputSchema = z
  .object({
    type: z.literal("kubeconfig"),
    name: outputName,
    /** Name of the certificate output whose key and certificate it embeds. */
    certificate: outputName,
    server: z.string().url(),
    clusterName: z.string().min(1).default("kubernetes"),
    /** Default: the certificate's common name. */
    userName: z.string().min(1).optional(),
    /**
     * How the user authenticates: "embedded" puts the certificate and key in
     * the file (rewritten on every renewal: its consumer must be restarted);
     * "exec" names `hak-agent credential` as a client-go credential plugin,
     * which hands out the current pair and tells client-go when to ask again
     * (the file holds no key and never changes on renewal; see credential.ts).
     */
    credential: z.enum(["embedded", "exec"]).default("embedded"),
    path: absPath,
    ...fileOwnership,
    actions,
  })
  .strict();

export const secretOutputSchema = z
  .object({
    type: z.literal("secret"),
    name: outputName,
    /** KV v2 mount and secret: reads `<mount>/data/<secret>`. */
    mount: z.string().min(1).default(KV_MOUNT),
    secret: z.string().min(1),
    field: z.string().min(1),
    path: absPath,
    ...fileOwnership,
    actions,
  })
  .strict();

export const outputSchema = z.discriminatedUnion("type", [certificateOutputSchema, kubeconfigOutputSchema, secretOutputSchema]);

export const agentConfigSchema = z
  .object({
    /** This host's name in the inventory: selects the per-host roles `<profile>.<host>`. */
    host: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be the host's inventory name (a DNS label)"),
    vault: z
      .object({
        addresses: z.array(vaultAddress).min(1, "at least one Vault address is needed"),
        /** CA of the Vault server's TLS certificate. */
        caFile: absPath.optional(),
        /** Local address every connection leaves from (secret IDs and tokens are bound to the host's address). */
        sourceAddress: z.string().refine(isIpAddress, "not an IPv4/IPv6 address").optional(),
        /** Per-request timeout. */
        timeout: durationSchema.default("15s"),
      })
      .strict(),
    auth: z
      .object({
        /** The host's fixed, non-secret AppRole role ID (hak-<cluster>-<host>). */
        roleId: z.string().min(1),
        /** Single-use secret ID for the first start; removed once used. */
        secretIdFile: absPath,
        approleMount: z.string().min(1).default(APPROLE_MOUNT),
        certMount: z.string().min(1).default(CERT_AUTH_MOUNT),
        /** Cert-auth role; default: the host name. */
        certRole: z.string().min(1).optional(),
        /** Name of the certificate output (profile host-identity) used for TLS cert auth. */
        identityOutput: outputName.default("host-identity"),
      })
      .strict(),
    renewal: z
      .object({
        /** Random spread of the renewal point, as a fraction of the lifetime (0.1 = ±10%). */
        jitter: z.number().min(0).max(0.15).default(0.1),
        backoffMin: durationSchema.default("1s"),
        backoffMax: durationSchema.default("5m"),
        /** Outputs changed within this window reload their units once. */
        debounce: durationSchema.default("2s"),
        /** How often secret outputs are read again. */
        secretInterval: durationSchema.default("10m"),
        /** While an output waits on Vault: how often its unauthenticated sys/health is asked (each probe at 0.5–1.5× this). */
        probeInterval: durationSchema.default("2s"),
        /** Once a probe finds Vault back: the waiting outputs retry at a random point within this window (fleet stampede). */
        recoverySpread: durationSchema.default("3s"),
      })
      .strict()
      .default({}),
    /** Address of the local HTTP endpoint (/healthz, /readyz, /metrics), "host:port"; omit to disable. */
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'must be "address:port", e.g. "127.0.0.1:9180"')
      .refine((s) => {
        const port = Number(s.slice(s.lastIndexOf(":") + 1));
        return port >= 1 && port <= 65535;
      }, "the port must be between 1 and 65535")
      .optional(),
    /** POSTed a JSON body when a certificate becomes late (its last sixth of life without renewal). */
    lateWebhook: z.string().url().optional(),
    outputs: z.array(outputSchema).min(1, "at least one output is needed"),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    cfg.outputs.forEach((o, i) => {
      // Certificate and kubeconfig outputs always hold a private key; a secret output
      // may be the public half (field "pub" of the service-account pair).
      const publicHalf = o.type === "secret" && o.field === "pub";
      if ((o.mode & OTHERS_READ) !== 0 && (o.mode & 0o002) === 0 && !publicHalf)
        ctx.addIssue({ code: "custom", path: ["outputs", i, "mode"], message: `0${o.mode.toString(8)} lets others read a private key or secret: use e.g. 0600 or 0640` });
    });
    const byName = new Map<string, number>();
    const files = new Map<string, string>();
    cfg.outputs.forEach((o, i) => {
      const dup = byName.get(o.name);
      if (dup !== undefined) ctx.addIssue({ code: "custom", path: ["outputs", i, "name"], message: `duplicate output name "${o.name}" (also outputs[${dup}])` });
      byName.set(o.name, i);
      for (const [field, p] of outputFiles(o)) {
        if (p === undefined) continue;
        const other = files.get(p);
        if (other) ctx.addIssue({ code: "custom", path: ["outputs", i, field], message: `${p} is also written by ${other}` });
        else files.set(p, `outputs[${i}].${field}`);
      }
    });
    cfg.outputs.forEach((o, i) => {
      if (o.type !== "kubeconfig") return;
      const target = byName.get(o.certificate);
      if (target === undefined || cfg.outputs[target]!.type !== "certificate")
        ctx.addIssue({ code: "custom", path: ["outputs", i, "certificate"], message: `no certificate output named "${o.certificate}"` });
    });
    const id = byName.get(cfg.auth.identityOutput);
    const idOut = id === undefined ? undefined : cfg.outputs[id];
    if (!idOut || idOut.type !== "certificate" || idOut.profile !== "host-identity")
      ctx.addIssue({
        code: "custom",
        path: ["auth", "identityOutput"],
        message: `needs a certificate output named "${cfg.auth.identityOutput}" with profile host-identity (the host's TLS cert-auth identity)`,
      });
    else if (idOut.commonName !== cfg.host)
      ctx.addIssue({ code: "custom", path: ["outputs", id!, "commonName"], message: `the host identity's common name must be the host name "${cfg.host}"` });
    if (cfg.renewal.probeInterval < 1)
      ctx.addIssue({ code: "custom", path: ["renewal", "probeInterval"], message: "must be at least 1s (it bounds the probe rate against Vault)" });
    if (cfg.renewal.backoffMax < cfg.renewal.backoffMin)
      ctx.addIssue({ code: "custom", path: ["renewal", "backoffMax"], message: "must not be shorter than backoffMin" });
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;
export type OutputConfig = AgentConfig["outputs"][number];
export type CertificateOutput = z.output<typeof certificateOutputSchema>;
export type KubeconfigOutput = z.output<typeof kubeconfigOutputSchema>;
export type SecretOutput = z.output<typeof secretOutputSchema>;
export type ActionConfig = z.output<typeof actionSchema>;

export function parseAgentConfig(doc: unknown, where = "agent config"): AgentConfig {
  return parseInput(agentConfigSchema, doc, where);
}

export function loadAgentConfig(file: string): AgentConfig {
  const text = readInputFile(file, "the agent config");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { where: file });
  }
  const cfg = parseAgentConfig(doc, file);
  checkPathKinds(cfg, file);
  return cfg;
}

/** The files one output writes, by field name (undefined: that optional file is not written). */
function outputFiles(o: OutputConfig): [string, string | undefined][] {
  return o.type === "certificate"
    ? [
        ["certFile", o.certFile],
        ["keyFile", o.keyFile],
        ["caFile", o.caFile],
        ["chainFile", o.chainFile],
        ["bundleFile", o.bundleFile],
      ]
    : [["path", o.path]];
}

/** Every file path of a config, with its field path. */
function configPaths(cfg: AgentConfig): [(string | number)[], string][] {
  const out: [(string | number)[], string][] = [[["auth", "secretIdFile"], cfg.auth.secretIdFile]];
  if (cfg.vault.caFile) out.push([["vault", "caFile"], cfg.vault.caFile]);
  cfg.outputs.forEach((o, i) => {
    for (const [f, p] of outputFiles(o)) if (p !== undefined) out.push([["outputs", i, f], p]);
  });
  return out;
}

/**
 * A configured path that exists must be a regular file (or a symlink to one):
 * reading a FIFO blocks forever (`check` hung on one) and a device never ends.
 * Paths that do not exist yet are fine; the agent creates them.
 */
export function checkPathKinds(cfg: AgentConfig, where: string): void {
  for (const [path, file] of configPaths(cfg)) {
    let st;
    try {
      st = statSync(file);
    } catch {
      continue;
    }
    if (!st.isFile()) throw new InputError(`${formatPath("", path)}: ${file} is ${fileKind(st)}, not a regular file`, { where });
  }
}
