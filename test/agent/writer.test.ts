import { spawn } from "node:child_process";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { keyMatchesCert, x509, generateKeyPair } from "../../src/common/x509.js";
import { generationCount, readGenerationMeta, storeDir, writeCertGeneration, type CertContent } from "../../src/agent/writer.js";

/** The atomic writer on real files, with a separate process reading while generations switch. */

const dir = mkdtempSync(join(tmpdir(), "hak-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function selfSigned(cn: string): Promise<CertContent> {
  const kp = await generateKeyPair("ec");
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: [{ CN: [cn] }],
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    keys: kp.keys,
    signingAlgorithm: kp.algorithm,
  });
  const pem = `${c.toString("pem")}\n`;
  return { certPem: pem, keyPem: kp.privateKeyPem, caPem: pem, chainPem: pem };
}

describe("writeCertGeneration", () => {
  const out = { name: "srv", certFile: join(dir, "srv.crt"), keyFile: join(dir, "srv.key"), caFile: join(dir, "ca.crt"), bundleFile: join(dir, "srv.pem") };

  it("creates files with their final mode and owner even under a restrictive umask, links the paths, records when", async () => {
    const old = process.umask(0o077);
    try {
      writeCertGeneration(out, await selfSigned("a"), { uid: 4242, gid: 4343, mode: 0o640 }, { obtainedAt: "2026-01-01T00:00:00.000Z" });
    } finally {
      process.umask(old);
    }
    expect(lstatSync(out.certFile).isSymbolicLink()).toBe(true);
    const key = statSync(out.keyFile);
    expect([key.mode & 0o777, key.uid, key.gid]).toEqual([0o640, 4242, 4343]);
    expect(statSync(out.certFile).mode & 0o777).toBe(0o644);
    expect(statSync(out.bundleFile).mode & 0o777).toBe(0o640);
    expect(statSync(storeDir(out)).mode & 0o777).toBe(0o755);
    expect(statSync(join(storeDir(out), "current")).mode & 0o777).toBe(0o755);
    expect(readGenerationMeta(out)).toEqual({ obtainedAt: "2026-01-01T00:00:00.000Z" });
  });

  it("keeps two generations; a reader in another process never sees a partial file or a mismatched bundle", async () => {
    const gens = await Promise.all(Array.from({ length: 6 }, (_, i) => selfSigned(`g${i}`)));
    const script = join(dir, "reader.mjs");
    writeFileSync(
      script,
      `import { readFileSync, realpathSync } from "node:fs";
       import { createPrivateKey, X509Certificate } from "node:crypto";
       import { dirname, join } from "node:path";
       let reads = 0, bad = [];
       const until = Date.now() + Number(process.argv[3]);
       while (Date.now() < until) {
         try {
           // The bundle (one file) and the pair read through one resolved generation folder.
           const b = readFileSync(process.argv[2] + "/srv.pem", "utf8");
           const k = b.slice(0, b.indexOf("-----BEGIN CERTIFICATE-----"));
           if (!new X509Certificate(b).checkPrivateKey(createPrivateKey(k))) bad.push("bundle mismatch");
           const g = dirname(realpathSync(process.argv[2] + "/srv.crt"));
           if (!new X509Certificate(readFileSync(join(g, "cert.pem"))).checkPrivateKey(createPrivateKey(readFileSync(join(g, "key.pem"))))) bad.push("pair mismatch");
           reads++;
         } catch (e) { bad.push(String(e.code ?? e.message)); }
       }
       console.log(JSON.stringify({ reads, bad: bad.slice(0, 5), badCount: bad.length }));`,
    );
    const reader = spawn(process.execPath, [script, dir, "1500"], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    reader.stdout.on("data", (d: Buffer) => (text += d.toString()));
    const done = new Promise((r) => reader.on("close", r));
    let writes = 0;
    const until = Date.now() + 1300;
    while (Date.now() < until) {
      writeCertGeneration(out, gens[writes % gens.length]!, { uid: 0, gid: 0, mode: 0o600 }, { obtainedAt: new Date().toISOString() });
      writes++;
      await new Promise((r) => setTimeout(r, 5));
    }
    await done;
    const res = JSON.parse(text) as { reads: number; badCount: number; bad: string[] };
    expect(writes).toBeGreaterThan(20);
    expect(res.reads).toBeGreaterThan(50);
    expect(res.bad).toEqual([]);
    expect(generationCount(out)).toBe(2);
    expect(readdirSync(storeDir(out)).sort()).toEqual(expect.arrayContaining(["current"]));
    expect(keyMatchesCert(readFileSync(out.keyFile, "utf8"), readFileSync(out.certFile, "utf8"))).toBe(true);
  });

  it("every switch makes an inotify event on what a path watcher watches (the apiserver's and kubelet's dynamic certificates re-add their watch on delete)", async () => {
    const w = { name: "watched", certFile: join(dir, "watched.crt"), keyFile: join(dir, "watched.key") };
    const own = { uid: 0, gid: 0, mode: 0o600 };
    writeCertGeneration(w, await selfSigned("w0"), own, { obtainedAt: new Date().toISOString() });
    // fsnotify's way, as dynamiccertificates uses it: watch the path (inotify follows the symlinks to the
    // generation's file), and on a delete or rename watch the path again.
    let events = 0;
    let watcher: FSWatcher;
    const watchPath = () => {
      watcher = watch(w.certFile, (type) => {
        events++;
        if (type === "rename") {
          watcher.close();
          watchPath();
        }
      });
    };
    watchPath();
    const missed: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const before = events;
      writeCertGeneration(w, await selfSigned(`w${i}`), own, { obtainedAt: new Date().toISOString() });
      const until = Date.now() + 1000;
      while (events === before && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      if (events === before) missed.push(i);
    }
    watcher!.close();
    expect(missed, "switches no watcher heard of").toEqual([]);
  });
});
