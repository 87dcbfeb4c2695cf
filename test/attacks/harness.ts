import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host, Inventory } from "../../src/common/inventory.js";
import { approleRoleId, CERT_AUTH_MOUNT, APPROLE_MOUNT } from "../../src/common/names.js";
import { requestSpec } from "../../src/common/profiles.js";
import { signCsr } from "../../src/common/sign.js";
import { VaultClient, VaultError } from "../../src/common/vault.js";
import { createCsr, generateKeyPair, x509, type KeyPairPem } from "../../src/common/x509.js";

/**
 * What the attack suite needs around a real OpenBao: logging in as a host
 * the way the agent does (AppRole with a single-use secret ID from the host's
 * address, then TLS cert auth with the host identity it was issued), raw HTTP
 * for path tricks a URL parser would normalise away, and CSRs with hostile
 * keys and extensions.
 */

export interface Server {
  address: string;
  caPem?: string;
}

/** The agent's two logins: AppRole once, then its host identity over TLS cert auth. Returns the cert-auth client. */
export async function loginAsHost(
  server: Server,
  inv: Inventory,
  host: Host,
  mintSecretId: (host: string) => Promise<string>,
  track: (c: VaultClient) => void,
): Promise<{ client: VaultClient; identity: { cert: string; key: string } }> {
  const first = new VaultClient({ addresses: [server.address], tls: { ca: server.caPem }, localAddress: host.address });
  track(first);
  const r = await first.write(`auth/${APPROLE_MOUNT}/login`, { role_id: approleRoleId(inv.name, host.name), secret_id: await mintSecretId(host.name) }, { token: null });
  first.token = r!.auth!.client_token;
  const spec = requestSpec(inv, "host-identity", host);
  const kp = await generateKeyPair("ec");
  const csr = await createCsr(kp, { commonName: spec.commonName, dns: spec.dns, ip: spec.ip });
  const signed = await signCsr(first, { profile: "host-identity", host: host.name, csrPem: csr, commonName: spec.commonName });
  const identity = { cert: signed.certPem, key: kp.privateKeyPem };
  const client = new VaultClient({ addresses: [server.address], tls: { ca: server.caPem, ...identity }, localAddress: host.address });
  track(client);
  const login = await client.write(`auth/${CERT_AUTH_MOUNT}/login`, { name: host.name }, { token: null });
  client.token = login!.auth!.client_token;
  return { client, identity };
}

export interface Answer {
  status: number;
  /** First error line, or "signed" with the certificate. */
  message: string;
  certificate?: string;
}

/** Vault's answer to a write, as data: refusals are answers here, not exceptions. */
export async function answer(p: Promise<{ data?: Record<string, unknown> } | undefined>): Promise<Answer> {
  try {
    const res = await p;
    const cert = res?.data?.certificate;
    return { status: 200, message: typeof cert === "string" ? "signed" : "accepted", certificate: typeof cert === "string" ? cert : undefined };
  } catch (err) {
    if (err instanceof VaultError) return { status: err.status ?? 0, message: firstLine(err.errors.join("; ") || err.message) };
    throw err;
  }
}

export function firstLine(s: string): string {
  return s
    .replace(/\d+ errors? occurred:\s*/g, "")
    .replace(/\s*\*\s*/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 140);
}

/**
 * A request whose path goes to the server byte for byte (no URL parser folds
 * `..` or `%2e`). A redirect (Vault answers a path with `//` or `..` with a
 * 307 to its cleaned form) is followed once, as a client would.
 */
export async function rawRequest(
  server: Server,
  o: { method: string; path: string; token?: string; body?: unknown; localAddress?: string; tls?: { cert: string; key: string } },
): Promise<Answer & { redirectedTo?: string }> {
  const first = await rawOnce(server, o);
  if (first.status < 300 || first.status >= 400 || !first.location) return first;
  const to = new URL(first.location, server.address);
  const second = await rawOnce(server, { ...o, path: `${to.pathname}${to.search}` });
  return { ...second, redirectedTo: to.pathname };
}

function rawOnce(
  server: Server,
  o: { method: string; path: string; token?: string; body?: unknown; localAddress?: string; tls?: { cert: string; key: string } },
): Promise<Answer & { location?: string }> {
  const u = new URL(server.address);
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: u.hostname,
        port: u.port,
        method: o.method,
        path: o.path,
        ca: server.caPem,
        ...(o.tls ?? {}),
        localAddress: o.localAddress,
        headers: { ...(o.token ? { "X-Vault-Token": o.token } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => {
          let msg = text;
          let certificate: string | undefined;
          try {
            const j = JSON.parse(text) as { errors?: string[]; data?: { certificate?: string } };
            msg = j.errors ? j.errors.join("; ") : j.data?.certificate ? "signed" : "accepted";
            certificate = j.data?.certificate;
          } catch {
            /* not JSON: keep the text */
          }
          const location = typeof res.headers.location === "string" ? res.headers.location : undefined;
          resolve({ status: res.statusCode ?? 0, message: firstLine(msg || String(res.statusCode)), certificate, location });
        });
      },
    );
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

/** A CSR made with openssl, for keys WebCrypto cannot make (P-224, RSA-1024 alike). */
export function opensslCsr(keyArgs: string[], subject: string, sans: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "hak-csr-"));
  try {
    const args = ["req", "-new", ...keyArgs, "-nodes", "-keyout", join(dir, "k.pem"), "-subj", subject, "-out", join(dir, "r.csr")];
    if (sans.length > 0) args.push("-addext", `subjectAltName=${sans.join(",")}`);
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
    return readFileSync(join(dir, "r.csr"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "/CN=x/O=y" for openssl, escaping "/" in values. */
export function opensslSubject(cn: string): string {
  return `/CN=${cn.replace(/\//g, "\\/")}`;
}

export interface CsrExtras {
  cn?: string;
  dns?: string[];
  ip?: string[];
  emails?: string[];
  uris?: string[];
  /** Extra subject RDNs, e.g. { O: ["system:masters"] }. */
  subject?: Record<string, string[]>;
  extensions?: x509.Extension[];
}

/** A CSR for the profile's own names with P-256 (WebCrypto), plus whatever `extra` adds. */
export async function csrWith(kp: KeyPairPem, base: { commonName: string; dns: string[]; ip: string[] }, extra: CsrExtras = {}): Promise<string> {
  const names: x509.JsonGeneralName[] = [
    ...(extra.dns ?? base.dns).map((value) => ({ type: "dns" as const, value })),
    ...(extra.ip ?? base.ip).map((value) => ({ type: "ip" as const, value })),
    ...(extra.emails ?? []).map((value) => ({ type: "email" as const, value })),
    ...(extra.uris ?? []).map((value) => ({ type: "url" as const, value })),
  ];
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [extra.cn ?? base.commonName] }, ...Object.entries(extra.subject ?? {}).map(([k, v]) => ({ [k]: v }))],
    keys: kp.keys,
    signingAlgorithm: kp.algorithm,
    extensions: [...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []), ...(extra.extensions ?? [])],
  });
  return req.toString("pem");
}

/** The server's own list of request fields of a path (OpenBao and Vault answer `?help=1` with OpenAPI). */
export async function requestFields(root: VaultClient, path: string): Promise<string[]> {
  const res = (await root.request("GET", `${path}?help=1`)) as unknown as {
    openapi?: { paths?: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } } }>; components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> } };
  };
  const api = res?.openapi;
  const out = new Set<string>();
  for (const p of Object.values(api?.paths ?? {})) {
    const ref = p.post?.requestBody?.content?.["application/json"]?.schema?.$ref;
    const name = ref?.split("/").pop();
    for (const k of Object.keys((name && api?.components?.schemas?.[name]?.properties) ?? {})) out.add(k);
  }
  return [...out].sort();
}
