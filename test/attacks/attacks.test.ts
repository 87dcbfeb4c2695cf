import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findHost, type Host, type Inventory } from "../../src/common/inventory.js";
import { holderUri, PKI_MOUNT } from "../../src/common/names.js";
import { PROFILES, profilesForRole, requestSpec, type ProfileName } from "../../src/common/profiles.js";
import { celCapable, celSignPath, signPath } from "../../src/common/sign.js";
import { VaultClient } from "../../src/common/vault.js";
import { certFacts, generateKeyPair, x509, type KeyPairPem } from "../../src/common/x509.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { BOOTSTRAP_POLICY_NAME, bootstrapPolicy } from "../../src/pki/bootstrap-policy.js";
import { certProblems, expectedCert } from "../../src/pki/conformance.js";
import { realBao } from "../helpers/bao.js";
import { loopbackInventory } from "../helpers/inventory.js";
import { answer, csrWith, loginAsHost, opensslCsr, opensslSubject, rawRequest, requestFields, type Answer } from "./harness.js";

/**
 * The attack suite: each host role logs in exactly as its agent does and,
 * at every sign endpoint its policy reaches, tries every request field the
 * server's own API description lists, one hostile value at a time. Vault
 * must refuse it or cap it (the certificate then conforms to the profile:
 * conformance.ts, the check serve's anomaly state uses). Each attack is sent
 * twice: with the host's token (policy + role, as deployed) and with a root
 * token straight at the role (the role alone, as when a policy is loosened).
 * Then the operator and auditor tokens try to grant themselves more.
 *
 * Two servers: OpenBao as bootstrap sets it up (CEL roles, bounded
 * validity), and the roles hak would make on HashiCorp Vault (classic only,
 * no not_after_bound), to show what is left there and what the ACL closes.
 * Every row goes to test-artifacts/attacks.md.
 */

type Verdict = "refused" | "capped" | "OPEN" | "open (known)";
interface Row {
  run: string;
  who: string;
  target: string;
  field: string;
  value: string;
  layer: "policy+role" | "role only" | "policy";
  answer: string;
  verdict: Verdict;
  /** Why an "open (known)" row is open, and what holds instead. */
  gap?: string;
}
const rows: Row[] = [];

interface Endpoint {
  host: Host;
  profile: ProfileName;
  path: string;
  cel: boolean;
}

interface Ctx {
  ep: Endpoint;
  inv: Inventory;
  spec: { commonName: string; dns: string[]; ip: string[] };
  kp: KeyPairPem;
  /** The other host of a per-host profile's role, whose names the attacker tries to take. */
  other: Host | undefined;
  /** The other host of the attacker's role, per-host profile or not. */
  peer: Host | undefined;
}

/** One hostile value of one field: how to build the request body from a valid one. */
interface Attack {
  field: string;
  value: string;
  body(ctx: Ctx, base: Record<string, unknown>): Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Signing at all is a failure (weak keys); otherwise a conforming certificate counts as capped. */
  mustRefuse?: boolean;
}

const FAR = "2035-01-01T00:00:00Z";
const opensslOwn = (ctx: Ctx, keyArgs: string[]) =>
  opensslCsr(keyArgs, opensslSubject(ctx.spec.commonName), [...ctx.spec.dns.map((d) => `DNS:${d}`), ...ctx.spec.ip.map((i) => `IP:${i}`)]);

const ATTACKS: Attack[] = [
  { field: "ttl", value: "876000h", body: (_c, b) => ({ ...b, ttl: "876000h" }) },
  { field: "ttl", value: "315360000 (seconds, a number)", body: (_c, b) => ({ ...b, ttl: 315360000 }) },
  { field: "ttl", value: "-1h", body: (_c, b) => ({ ...b, ttl: "-1h" }) },
  { field: "not_after", value: FAR, body: (_c, b) => ({ ...b, not_after: FAR }) },
  { field: "not_after", value: `${FAR} with ttl 1h`, body: (_c, b) => ({ ...b, not_after: FAR, ttl: "1h" }) },
  { field: "not_before", value: "2000-01-01T00:00:00Z", body: (_c, b) => ({ ...b, not_before: "2000-01-01T00:00:00Z" }) },
  { field: "common_name", value: "another host's CN", body: (c, b) => ({ ...b, common_name: c.other ? PROFILES[c.ep.profile].commonName(c.other) : "kubernetes-super-admin" }) },
  { field: "common_name", value: "kubernetes-super-admin", body: (_c, b) => ({ ...b, common_name: "kubernetes-super-admin" }) },
  { field: "alt_names", value: "evil.example", body: (_c, b) => ({ ...b, alt_names: "evil.example" }) },
  { field: "alt_names", value: "an email at the host's own name", body: (c, b) => ({ ...b, alt_names: `root@${c.spec.dns[0] ?? c.spec.commonName}` }) },
  { field: "ip_sans", value: "0.0.0.0", body: (_c, b) => ({ ...b, ip_sans: "0.0.0.0" }) },
  { field: "ip_sans", value: "the API virtual IP", body: (c, b) => ({ ...b, ip_sans: c.inv.apiVip }) },
  { field: "uri_sans", value: "spiffe://cluster/ns/kube-system/sa/admin", body: (_c, b) => ({ ...b, uri_sans: "spiffe://cluster/ns/kube-system/sa/admin" }) },
  { field: "uri_sans", value: "another holder's name (urn:hak:host:<other>)", body: (c, b) => ({ ...b, uri_sans: holderUri(c.peer?.name ?? "evil") }) },
  { field: "other_sans", value: "UPN admin@evil", body: (_c, b) => ({ ...b, other_sans: ["1.3.6.1.4.1.311.20.2.3;UTF8:admin@evil"] }) },
  { field: "exclude_cn_from_sans", value: "false (CN becomes a DNS SAN)", body: (_c, b) => ({ ...b, exclude_cn_from_sans: false }) },
  { field: "format", value: "der", body: (_c, b) => ({ ...b, format: "der" }) },
  { field: "format", value: "pem_bundle", body: (_c, b) => ({ ...b, format: "pem_bundle" }) },
  { field: "private_key_format", value: "pkcs8", body: (_c, b) => ({ ...b, private_key_format: "pkcs8" }) },
  { field: "remove_roots_from_chain", value: "true", body: (_c, b) => ({ ...b, remove_roots_from_chain: true }) },
  { field: "user_ids", value: "root", body: (_c, b) => ({ ...b, user_ids: "root" }) },
  { field: "serial_number", value: "EVIL-1", body: (_c, b) => ({ ...b, serial_number: "EVIL-1" }) },
  { field: "issuer_ref", value: "default", body: (_c, b) => ({ ...b, issuer_ref: "default" }) },
  { field: "csr", value: "RSA-1024 key", mustRefuse: true, body: (c, b) => ({ ...b, csr: opensslOwn(c, ["-newkey", "rsa:1024"]) }) },
  { field: "csr", value: "ECDSA P-224 key", mustRefuse: true, body: (c, b) => ({ ...b, csr: opensslOwn(c, ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-224"]) }) },
  { field: "csr", value: "Ed25519 key", mustRefuse: true, body: (c, b) => ({ ...b, csr: opensslOwn(c, ["-newkey", "ed25519"]) }) },
  {
    field: "csr",
    value: "basicConstraints CA:TRUE",
    body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] }) }),
  },
  {
    field: "csr",
    value: "keyUsage keyCertSign, cRLSign",
    body: async (c, b) => ({
      ...b,
      csr: await csrWith(c.kp, c.spec, { extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)] }),
    }),
  },
  {
    field: "csr",
    value: "extKeyUsage codeSigning, OCSPSigning, serverAuth, clientAuth",
    body: async (c, b) => ({
      ...b,
      csr: await csrWith(c.kp, c.spec, {
        extensions: [new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.3", "1.3.6.1.5.5.7.3.9", "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])],
      }),
    }),
  },
  { field: "csr", value: "subject O=system:masters", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { subject: { O: ["system:masters"] } }) }) },
  { field: "csr", value: "subject serialNumber", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { subject: { "2.5.4.5": ["EVIL-1"] } }) }) },
  { field: "csr", value: "another host's CN", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { cn: c.other ? PROFILES[c.ep.profile].commonName(c.other) : "kubernetes-super-admin" }) }) },
  { field: "csr", value: "DNS SAN evil.example", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { dns: [...c.spec.dns, "evil.example"] }) }) },
  { field: "csr", value: "IP SAN: the API virtual IP", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { ip: [...c.spec.ip, c.inv.apiVip] }) }) },
  { field: "csr", value: "IP SAN 0.0.0.0", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { ip: [...c.spec.ip, "0.0.0.0"] }) }) },
  {
    field: "csr",
    value: "email SAN at the host's own name",
    body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { emails: [`root@${c.spec.dns[0] ?? c.spec.commonName}`] }) }),
  },
  { field: "csr", value: "URI SAN spiffe://…/admin", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { uris: ["spiffe://cluster/ns/kube-system/sa/admin"] }) }) },
  { field: "csr", value: "URI SAN naming another holder", body: async (c, b) => ({ ...b, csr: await csrWith(c.kp, c.spec, { uris: [holderUri(c.peer?.name ?? "evil")] }) }) },
];

/** Fields the CEL sign path adds to the classic one, and how each is attacked there. */
const CEL_ONLY: Attack[] = [
  { field: "not_before_duration", value: "876000h", body: (_c, b) => ({ ...b, not_before_duration: "876000h" }) },
  { field: "use_pss", value: "true", body: (_c, b) => ({ ...b, use_pss: true }) },
  { field: "signature_bits", value: "1", body: (_c, b) => ({ ...b, signature_bits: 1 }) },
];

/**
 * What classic roles cannot bound, recorded as "open (known)" without failing (docs/policies.md, "Left open on
 * HashiCorp Vault"): a role honours a requested not_after (the ACL refuses the
 * field for hosts), accepts any IP SAN once IP SANs are allowed, and an email
 * SAN whose domain is one of the host's own DNS names — both carried in the CSR,
 * which no ACL can read. serve's anomaly state flags such certificates.
 */
function knownGap(run: { boundedValidity: boolean }, ep: Endpoint, a: Attack, layer: string): string | undefined {
  if (ep.cel) return undefined;
  // Any classic role, OpenBao's too.
  if (a.field === "alt_names" && /email/.test(a.value) && layer === "role only")
    return "classic role: an email SAN whose domain is the role's allowed name passes Vault's name check; no policy allows alt_names";
  if (a.field === "exclude_cn_from_sans" && layer === "role only") return "classic role: the CN joins the DNS SANs; every policy pins exclude_cn_from_sans to true";
  if (run.boundedValidity) return undefined;
  // HashiCorp Vault's classic roles. Every per-host profile but kubelet has DNS and IP SANs (celCapable says the same).
  const hasSans = celCapable(ep.profile);
  if (a.field === "not_after" && layer === "role only") return "Vault: no not_after_bound, a role honours not_after up to the CA's expiry; no policy allows not_after";
  if (a.field === "csr" && /^IP SAN/.test(a.value) && hasSans) return "Vault: a role cannot pin IP SANs (no allowed_ip_sans_cidr, no CEL); the CSR carries them past any ACL";
  if (a.field === "ip_sans" && hasSans && layer === "role only") return "Vault: a role cannot pin IP SANs; no policy allows ip_sans";
  if (a.field === "csr" && /^email SAN/.test(a.value) && hasSans) return "Vault: an email SAN at one of the host's own DNS names passes the role; the CSR carries it past any ACL";
  return undefined;
}

const describeRun = (run: { name: string; cel: boolean; boundedValidity: boolean; net: number }) =>
  describe(`attacks on ${run.name}`, () => {
    const inv = loopbackInventory({
      name: "atk",
      net: run.net,
      hosts: [
        ["etcd1", "etcd"],
        ["etcd2", "etcd"],
        ["cp1", "controlplane"],
        ["cp2", "controlplane"],
        ["worker1", "worker"],
        ["worker2", "worker"],
        ["lb1", "loadbalancer"],
        ["lb2", "loadbalancer"],
      ],
    });
    const attackers = ["etcd1", "cp1", "worker1", "lb1"].map((n) => findHost(inv, n)!);
    /** The victim of each attacker: the other host of its role. */
    const victim = (h: Host) => inv.hosts.find((o) => o.role === h.role && o.name !== h.name);
    let bao: Awaited<ReturnType<typeof realBao>>;
    let root: VaultClient;
    let operator: VaultClient;
    let auditor: VaultClient;
    let boot: VaultClient;
    const clients: VaultClient[] = [];
    const hostClients = new Map<string, VaultClient>();
    const track = (c: VaultClient) => clients.push(c);
    const tokenClient = async (policies: string[]) => {
      const t = await root.write<never>("auth/token/create", { policies, ttl: "1h" });
      const c = bao.client();
      c.token = t!.auth!.client_token;
      track(c);
      return c;
    };

    beforeAll(async () => {
      bao = await realBao();
      root = bao.client();
      // Bootstrap runs with the credential made for it, not root.
      await root.write(`sys/policies/acl/${BOOTSTRAP_POLICY_NAME}`, { policy: bootstrapPolicy() });
      boot = await tokenClient([BOOTSTRAP_POLICY_NAME]);
      await bootstrap(boot, inv, { auditFile: join(bao.stateDir, "audit.log"), cel: run.cel, boundedValidity: run.boundedValidity });
      operator = await tokenClient(["hak-operator"]);
      auditor = await tokenClient(["hak-auditor"]);
      // The operator mints the secret IDs, as hak-deploy enroll does.
      const mint = async (host: string) => {
        const r = await operator.write<{ secret_id: string }>(`auth/approle/role/${host}/secret-id`, { cidr_list: [`${findHost(inv, host)!.address}/32`], num_uses: 1 });
        return r!.data!.secret_id;
      };
      for (const h of attackers) hostClients.set(h.name, (await loginAsHost(bao, inv, h, mint, track)).client);
    }, 120_000);

    afterAll(async () => {
      for (const c of clients) await c.close();
      await root?.close();
      await bao?.cleanup();
    });

    /** Every sign endpoint a host's policy reaches, where the role exists on this server. */
    const endpoints = (h: Host): Endpoint[] =>
      profilesForRole(h.role).map((p) => {
        const cel = run.cel && celCapable(p.name);
        return { host: h, profile: p.name, cel, path: cel ? celSignPath(p.name, h.name) : signPath(p.name, h.name) };
      });

    it("learns every request field from the server, and has an attack for each", async () => {
      const classic = await requestFields(root, signPath("kubelet", "worker1"));
      expect(classic).toContain("not_after");
      const cel = run.cel ? await requestFields(root, celSignPath("kubelet-serving", "worker1")) : [];
      const covered = new Set([...ATTACKS, ...CEL_ONLY].map((a) => a.field));
      const missing = [...new Set([...classic, ...cel])].filter((f) => !covered.has(f));
      expect(missing, `request fields with no attack case: ${missing.join(", ")}`).toEqual([]);
    });

    for (const name of ["etcd1", "cp1", "worker1", "lb1"]) {
      it(`${name}: every field of every sign endpoint it reaches is refused or capped`, async () => {
        const h = findHost(inv, name)!;
        const client = hostClients.get(name)!;
        const failures: string[] = [];
        for (const ep of endpoints(h)) {
          const spec = requestSpec(inv, ep.profile, PROFILES[ep.profile].perHost ? h : undefined);
          // A shared profile's certificate names its holder (urn:hak:host:<host>), as the agent asks.
          const want = expectedCert(inv, ep.profile, h);
          const kp = await generateKeyPair("ec");
          const ctx: Ctx = { ep, inv, spec, kp, other: PROFILES[ep.profile].perHost ? victim(h) : undefined, peer: victim(h) };
          const own = PROFILES[ep.profile].perHost ? [] : [holderUri(h.name)];
          const base = {
            csr: await csrWith(kp, spec, { uris: own }),
            common_name: spec.commonName,
            format: "pem",
            exclude_cn_from_sans: true,
            ...(own.length > 0 ? { uri_sans: own.join(",") } : {}),
          };
          // The baseline must work, or every refusal below would mean nothing.
          const ok = await answer(client.write(ep.path, base));
          expect(ok.status, `${name} ${ep.path} baseline: ${ok.message}`).toBe(200);
          expect(certProblems(certFacts(ok.certificate!), want)).toEqual([]);
          for (const a of ep.cel ? [...ATTACKS, ...CEL_ONLY] : ATTACKS) {
            const body = await a.body(ctx, base);
            for (const [layer, c] of [
              ["policy+role", client],
              ["role only", root],
            ] as const) {
              const ans = await answer(c.write(ep.path, body));
              const judged = judge(ans, a, want);
              const gap = judged === "OPEN" ? knownGap(run, ep, a, layer) : undefined;
              const verdict: Verdict = gap ? "open (known)" : judged;
              rows.push({ run: run.name, who: name, target: `${ep.cel ? "CEL" : "classic"} ${ep.profile}`, field: a.field, value: a.value, layer, answer: describeAnswer(ans, want), verdict, gap });
              // Both layers must hold, save the gaps knownGap names (each closed by the other layer or documented).
              if (verdict === "OPEN") failures.push(`${layer} ${ep.path} ${a.field}=${a.value}: ${describeAnswer(ans, want)}`);
            }
          }
        }
        expect(failures).toEqual([]);
      }, 240_000);
    }

    it("path tricks reach no role but the host's own", async () => {
      const w = findHost(inv, "worker1")!;
      const client = hostClients.get("worker1")!;
      const spec = requestSpec(inv, "kubelet", findHost(inv, "worker2"));
      const csr = await csrWith(await generateKeyPair("ec"), spec);
      const body = { csr, common_name: spec.commonName, format: "pem", exclude_cn_from_sans: true };
      const k = PKI_MOUNT.kubernetes;
      const tricks = [
        `/v1/${k}/sign/kubelet.worker1/../kubelet.worker2`,
        `/v1/${k}/sign/kubelet.worker1/%2e%2e/kubelet.worker2`,
        `/v1/${k}/sign/kubelet.worker1%2F..%2Fkubelet.worker2`,
        `/v1/${k}/sign/kubelet%2Eworker2`,
        `/v1/${k}/sign/kubelet.worker2%00`,
        `/v1/${k}//sign/kubelet.worker2`,
        `/v1/${k}/sign//kubelet.worker2`,
        `/v1/${k}/./sign/kubelet.worker2`,
        `/v1/${k}/sign/kubelet.worker2/`,
        `/v1/${k}/sign/KUBELET.worker2`,
        `/v1/${k}/sign/kubelet.worker1.`,
        `/v1/${k}/sign/kubelet.worker1*`,
        `/v1/${k}/sign-verbatim/kubelet.worker1`,
        `/v1/${k}/sign-verbatim`,
        `/v1/${k}/issue/kubelet.worker1`,
        `/v1/${k}/root/sign-intermediate`,
        `/v1/${k}/root/sign-self-issued`,
        `/v1/${k}/cel/sign/kubelet.worker2`,
        `/v1/${k}/sign/super-admin`,
        `/v1/${k}/roles/kubelet.worker1`,
        `/v1/${k}/cel/roles/kubelet-serving.worker1`,
        `/v1/${k}/config/ca`,
        `/v1/${PKI_MOUNT.etcd}/sign/etcd-peer.etcd1`,
        `/v1/sys/raw/logical`,
      ];
      const failures: string[] = [];
      for (const path of tricks) {
        const ans = await rawRequest(bao, { method: "POST", path, token: client.token, body, localAddress: w.address });
        const verdict: Verdict = ans.status >= 400 ? "refused" : "OPEN";
        const via = ans.redirectedTo ? `307 to ${ans.redirectedTo}, then ` : "";
        rows.push({ run: run.name, who: "worker1", target: "path", field: "path", value: path, layer: "policy+role", answer: `${via}${ans.status} ${ans.message}`, verdict });
        if (verdict === "OPEN") failures.push(`${path}: ${ans.status} ${ans.message}`);
      }
      expect(failures).toEqual([]);
    });

    /** Writes a person's token must not be able to make: each would grant more than the policy. */
    /** [method, path, body, refused by the backend after the ACL let it through (the path is the person's job)]. */
    const escalations = (): [string, string, Record<string, unknown> | undefined, boolean?][] => [
      ["POST", "sys/policies/acl/hak-operator", { policy: 'path "*" { capabilities = ["create","read","update","delete","list","sudo"] }' }],
      ["POST", "sys/policies/acl/evil", { policy: 'path "*" { capabilities = ["sudo"] }' }],
      ["POST", "sys/policy/evil", { policy: 'path "*" { capabilities = ["sudo"] }' }],
      ["DELETE", "sys/policies/acl/hak-worker", undefined],
      ["POST", "auth/approle/role/evil", { token_policies: ["root"] }],
      ["POST", "auth/approle/role/worker1", { token_policies: ["hak-worker", "hak-operator"] }],
      ["POST", "auth/approle/role/worker1", { policies: ["root"] }],
      ["POST", "auth/cert/certs/evil", { certificate: "x", token_policies: ["root"] }],
      ["POST", "auth/token/create", { policies: ["root"] }],
      ["POST", "auth/token/create-orphan", { policies: ["hak-operator"] }],
      ["POST", "auth/token/roles/evil", { allowed_policies: ["root"] }],
      ["POST", "sys/mounts/pki-kubernetes2", { type: "pki" }],
      ["POST", "sys/mounts/pki-kubernetes-evil", { type: "pki" }],
      ["POST", "sys/mounts/evil", { type: "kv" }],
      ["POST", "sys/mounts/pki-kubernetes/tune", { max_lease_ttl: "876000h" }],
      ["DELETE", "sys/mounts/pki-kubernetes", undefined],
      ["POST", "sys/auth/userpass", { type: "userpass" }],
      ["POST", "sys/auth/approle/tune", { default_lease_ttl: "876000h" }],
      ["DELETE", "sys/audit/hak-file", undefined],
      ["POST", "sys/audit/evil", { type: "file", options: { file_path: "/tmp/evil" } }],
      ["POST", "identity/entity", { name: "evil", policies: ["root"] }],
      ["POST", "identity/entity/name/hak-host-worker1", { metadata: { host: "etcd1", role: "etcd" } }],
      ["POST", "identity/entity/name/hak-host-worker1", { policies: ["hak-operator"] }],
      ["POST", "identity/entity-alias", { name: "evil", canonical_id: "x", mount_accessor: "x" }],
      ["POST", "identity/group", { name: "evil", policies: ["root"] }],
      ["POST", "sys/plugins/catalog/secret/evil", { sha256: "00", command: "evil" }],
      ["POST", "sys/config/cors", { enabled: true, allowed_origins: ["*"] }],
      ["POST", "sys/leases/revoke-prefix/auth", {}],
      ["POST", "sys/quotas/rate-limit/evil", { rate: 1 }],
      ["POST", "sys/rotate", {}],
      ["POST", "sys/seal", {}],
      ["POST", "sys/step-down", {}],
      ["GET", "sys/raw/logical", undefined],
      ["GET", `${"hak-kv"}/data/service-account`, undefined],
      ["POST", `${PKI_MOUNT.kubernetes}/root/generate/exported`, { common_name: "evil" }],
      ["POST", `${PKI_MOUNT.kubernetes}/roles/evil`, { allow_any_name: true }],
      ["POST", `${PKI_MOUNT.kubernetes}/roles/kubelet.worker1`, { allow_any_name: true }],
      ["POST", `${PKI_MOUNT.kubernetes}/cel/roles/evil`, { cel_program: { expression: "true" } }],
      ["POST", `${PKI_MOUNT.kubernetes}/issue/admin`, { common_name: "kubernetes-admin" }],
      ["POST", `${PKI_MOUNT.kubernetes}/sign-verbatim`, { csr: "x" }],
      ["POST", `${PKI_MOUNT.kubernetes}/config/ca`, { pem_bundle: "x" }],
      ["POST", `${PKI_MOUNT.kubernetes}/issuer/default`, { leaf_not_after_behavior: "permit" }],
      ["POST", `${PKI_MOUNT.kubernetes}/sign/admin`, { csr: "x", not_after: FAR }],
      ["POST", `${PKI_MOUNT.kubernetes}/sign/admin`, { csr: "x", uri_sans: "spiffe://x" }],
      ["POST", "auth/approle/role/worker1/secret-id", { cidr_list: ["0.0.0.0/0"] }, true],
      ["POST", "auth/approle/role/worker1/secret-id", { num_uses: 0 }, true],
      ["POST", "auth/approle/role/worker1/secret-id", { token_bound_cidrs: ["0.0.0.0/0"] }, true],
      ["POST", "auth/approle/role/worker1/secret-id", { ttl: "876000h" }, true],
      ["POST", "auth/approle/role/worker1/custom-secret-id", { secret_id: "chosen-by-me" }],
    ];

    /** The auditor has no write at all: what the operator may do is escalation for it. */
    const auditorExtra = (): [string, string, Record<string, unknown> | undefined, boolean?][] => [
      ["POST", "auth/approle/role/worker1/secret-id", {}],
      ["POST", `${PKI_MOUNT.kubernetes}/sign/admin`, { csr: "x" }],
      ["POST", `${PKI_MOUNT.kubernetes}/revoke`, { serial_number: "00" }],
      ["POST", `${PKI_MOUNT.kubernetes}/crl/rotate`, {}],
      ["GET", `${PKI_MOUNT.kubernetes}/crl/rotate`, undefined],
      ["POST", `${PKI_MOUNT.kubernetes}/tidy`, {}],
    ];

    /** The bootstrap credential writes policies and auth roles, so each of those writes is pinned: these must not pass. */
    const bootstrapEscalations = (): [string, string, Record<string, unknown> | undefined, boolean?][] => [
      ["POST", "sys/policies/acl/hak-operator", { policy: 'path "*" { capabilities = ["create","read","update","delete","list","sudo"] }' }],
      ["POST", "sys/policies/acl/hak-worker", { policy: 'path "pki-kubernetes/sign/*" { capabilities = ["update"] }' }],
      ["POST", `sys/policies/acl/${BOOTSTRAP_POLICY_NAME}`, { policy: 'path "*" { capabilities = ["sudo"] }' }],
      ["POST", "sys/policies/acl/evil", { policy: 'path "*" { capabilities = ["sudo"] }' }],
      ["DELETE", "sys/policies/acl/hak-worker", undefined],
      ["POST", "auth/approle/role/evil", { token_policies: ["root"] }],
      ["POST", "auth/approle/role/worker1", { token_policies: ["hak-operator"] }],
      ["POST", "auth/approle/role/worker1", { token_policies: ["hak-worker", "hak-etcd"] }],
      ["POST", "auth/approle/role/worker1", { token_policies: ["hak-worker"], policies: ["root"] }],
      ["POST", "auth/approle/role/worker1", { token_policies: ["hak-worker"], token_type: "batch" }],
      ["POST", "auth/cert/certs/evil", { certificate: "x", token_policies: ["root"] }],
      ["POST", "auth/approle/role/worker1/secret-id", {}],
      ["POST", "identity/entity/name/hak-host-worker1", { metadata: { host: "worker1" }, policies: ["root"] }],
      ["POST", "identity/entity", { name: "evil", policies: ["root"] }],
      ["POST", "identity/group", { name: "evil", policies: ["root"] }],
      ["POST", "auth/token/create", { policies: ["root"] }],
      ["POST", "sys/mounts/evil", { type: "kv" }],
      ["POST", "sys/mounts/pki-kubernetes-2", { type: "pki" }],
      ["POST", "sys/mounts/hak-kv", { type: "pki" }],
      ["POST", "sys/auth/userpass", { type: "userpass" }],
      ["POST", "sys/auth/approle", { type: "userpass" }],
      ["POST", "sys/audit/evil", { type: "file", options: { file_path: "/tmp/evil" } }],
      ["GET", "hak-kv/data/service-account", undefined],
      ["POST", "hak-kv/data/service-account", { data: { key: "mine" } }],
      ["POST", `${PKI_MOUNT.kubernetes}/root/generate/exported`, { common_name: "evil" }],
      ["POST", `${PKI_MOUNT.kubernetes}/sign/admin`, { csr: "x" }],
      ["POST", `${PKI_MOUNT.kubernetes}/issue/admin`, { common_name: "kubernetes-admin" }],
      ["POST", `${PKI_MOUNT.kubernetes}/sign-verbatim`, { csr: "x" }],
      ["GET", "sys/raw/logical", undefined],
    ];

    for (const [who, list] of [
      ["operator", escalations],
      ["auditor", () => [...escalations(), ...auditorExtra()]],
      ["bootstrap", bootstrapEscalations],
    ] as const) {
      it(`the ${who} token cannot grant itself or anyone more`, async () => {
        const c = who === "operator" ? operator : who === "auditor" ? auditor : boot;
        const failures: string[] = [];
        for (const [method, path, body, backend] of list()) {
          const ans = await answer(c.request(method as "GET", path, body === undefined ? {} : { body }));
          // Only the ACL's 403 counts: a backend refusing this body (400) could accept a better one.
          // Secret IDs are the operator's job; there the AppRole role bounds what a secret ID may be.
          const backendOk = backend === true && who === "operator" && ans.status >= 400 && ans.status !== 404;
          const verdict: Verdict = ans.status === 403 || backendOk ? "refused" : "OPEN";
          rows.push({ run: run.name, who, target: "sys/auth/identity", field: method, value: `${path}${body ? ` ${JSON.stringify(body).slice(0, 60)}` : ""}`, layer: "policy", answer: `${ans.status} ${ans.message}`, verdict });
          if (verdict === "OPEN") failures.push(`${method} ${path}: ${ans.status} ${ans.message}`);
        }
        expect(failures).toEqual([]);
      });
    }

    it("the operator still does its job: issue admin, mint a secret ID, revoke; the auditor reads", async () => {
      const spec = requestSpec(inv, "admin", undefined);
      const s = await answer(operator.write(signPath("admin"), { csr: await csrWith(await generateKeyPair("ec"), spec), common_name: spec.commonName, format: "pem", exclude_cn_from_sans: true }));
      expect(s.status, s.message).toBe(200);
      expect(certProblems(certFacts(s.certificate!), expectedCert(inv, "admin", undefined))).toEqual([]);
      const serial = certFacts(s.certificate!).serial;
      expect((await answer(operator.write(`${PKI_MOUNT.kubernetes}/revoke`, { serial_number: serial }))).status).toBe(200);
      expect((await answer(operator.write("auth/approle/role/worker2/secret-id", { cidr_list: [`${findHost(inv, "worker2")!.address}/32`], num_uses: 1 }))).status).toBe(200);
      expect((await auditor.list(`${PKI_MOUNT.kubernetes}/certs`)).length).toBeGreaterThan(0);
      expect(await auditor.read("sys/policies/acl/hak-operator")).toBeDefined();
    });
  });


function judge(ans: Answer, a: Attack, want: ReturnType<typeof expectedCert>): Verdict {
  if (ans.status !== 200) return "refused";
  if (a.mustRefuse) return "OPEN";
  if (!ans.certificate) return "OPEN";
  // format=der answers base64 DER: convert before reading it.
  const pem = ans.certificate.includes("BEGIN") ? ans.certificate : `-----BEGIN CERTIFICATE-----\n${ans.certificate}\n-----END CERTIFICATE-----\n`;
  return certProblems(certFacts(pem), want).length === 0 ? "capped" : "OPEN";
}

function describeAnswer(ans: Answer, want: ReturnType<typeof expectedCert>): string {
  if (ans.status !== 200) return `${ans.status} ${ans.message}`;
  if (!ans.certificate) return `${ans.status} ${ans.message}`;
  const pem = ans.certificate.includes("BEGIN") ? ans.certificate : `-----BEGIN CERTIFICATE-----\n${ans.certificate}\n-----END CERTIFICATE-----\n`;
  const f = certFacts(pem);
  const problems = certProblems(f, want);
  const life = Math.round((f.notAfter.getTime() - f.notBefore.getTime()) / 1000);
  return problems.length === 0 ? `signed, conforming (lifetime ${life}s)` : `signed: ${problems.join("; ")}`;
}

describeRun({ name: "OpenBao as bootstrapped (CEL roles, bounded validity)", cel: true, boundedValidity: true, net: 57 });
describeRun({ name: "HashiCorp Vault's roles (classic only, no not_after_bound)", cel: false, boundedValidity: false, net: 58 });

afterAll(() => {
  mkdirSync("test-artifacts", { recursive: true });
  writeFileSync("test-artifacts/attacks.md", renderTable(rows));
});

/** Rows folded over endpoints: one line per (run, who, field, value, layer) with the answers seen. */
function renderTable(all: Row[]): string {
  const groups = new Map<string, Row[]>();
  for (const r of all) {
    const key = [r.run, r.who, r.field, r.value, r.layer].join("\u0000");
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const tally = new Map<string, number>();
  for (const r of all) tally.set(`${r.run} | ${r.layer} | ${r.verdict}`, (tally.get(`${r.run} | ${r.layer} | ${r.verdict}`) ?? 0) + 1);
  const gaps = new Map<string, Set<string>>();
  for (const r of all) if (r.gap) gaps.set(`${r.run}: ${r.gap}`, (gaps.get(`${r.run}: ${r.gap}`) ?? new Set()).add(`${r.field}=${r.value}`));
  const lines = [
    "# Attack suite: what was tried and what Vault answered",
    "",
    "## Summary (requests)",
    "",
    "| run | layer | verdict | requests |",
    "| --- | --- | --- | --- |",
    ...[...tally].sort().map(([k, n]) => `| ${k} | ${n} |`),
    "",
    "## Known gaps (open at that layer; what holds instead)",
    "",
    ...[...gaps].sort().map(([k, v]) => `- ${k} (${[...v].join(", ")})`),
    "",
    "## Every attack",
    "",
    "Generated by test/attacks/attacks.test.ts against a real OpenBao. *policy+role*: the host's own token (cert-auth login, as the agent);",
    "*role only*: a root token at the same role, which shows what the role bounds by itself. Verdict: refused, capped (signed, but the",
    "certificate conforms to the profile: lifetime <= leafTtl, its own names, no extra SAN kinds, no CA, no extra usages), or OPEN.",
    "",
    "| run | who | field | hostile value | layer | endpoints | answers (count) | verdict |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const rs of groups.values()) {
    const r = rs[0]!;
    const answers = new Map<string, number>();
    for (const x of rs) {
      const short = `${x.target.startsWith("CEL") ? "CEL: " : x.target.startsWith("classic") ? "classic: " : ""}${x.answer.replace(/\(lifetime \d+s\)/, "").trim()}`;
      answers.set(short, (answers.get(short) ?? 0) + 1);
    }
    const verdicts = [...new Set(rs.map((x) => x.verdict))].sort().join(", ");
    lines.push(
      `| ${esc(r.run)} | ${r.who} | ${esc(r.field)} | ${esc(r.value)} | ${r.layer} | ${rs.length} | ${esc([...answers].map(([a, n]) => `${a} (${n})`).join("; "))} | ${verdicts} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}
