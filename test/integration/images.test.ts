import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binaryPath, imageInfo, imageTarball } from "../../src/common/binaries.js";
import { HakError } from "../../src/common/errors.js";
import { importImages, listImages } from "../../src/common/images.js";

/**
 * The locally built images in a real containerd v2 (the one setup builds),
 * with Debian's runc: imported with the helper the local cluster uses, then
 * run. Its own root, state and sockets in a temp folder; the CRI plugin is
 * off (no kubelet here), so nothing else on the machine is touched.
 */

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "hak-ctrd-"));
const address = join(dir, "containerd.sock");
let containerd: ChildProcess | undefined;
let log = "";

beforeAll(async () => {
  writeFileSync(
    join(dir, "config.toml"),
    [
      "version = 3",
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", "io.containerd.nri.v1.nri"]',
      "[grpc]",
      `  address = "${address}"`,
      "[ttrpc]",
      `  address = "${address}.ttrpc"`,
      "[debug]",
      `  address = "${dir}/debug.sock"`,
      "[metrics]",
      '  address = ""',
      "",
    ].join("\n"),
  );
  // The shim and runc are found on PATH, as on a host.
  const path = [dirname(binaryPath("containerd-shim-runc-v2")), dirname(binaryPath("runc")), process.env.PATH].join(":");
  containerd = spawn(binaryPath("containerd"), ["--config", join(dir, "config.toml")], { env: { ...process.env, PATH: path }, stdio: ["ignore", "pipe", "pipe"] });
  containerd.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  containerd.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!log.includes("containerd successfully booted")) {
    if (containerd.exitCode !== null || Date.now() > deadline) throw new Error(`containerd did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  if (containerd && containerd.exitCode === null) {
    const exited = new Promise((r) => containerd?.once("exit", r));
    containerd.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** runc's state folder (/run/containerd/runc/<namespace>) is shared by every containerd on the machine: ids must be unique. */
async function ctrRun(image: string, name: string, args: string[]): Promise<string> {
  const id = `${name}-${process.pid}-${Date.now().toString(36)}`;
  const path = [dirname(binaryPath("runc")), process.env.PATH].join(":");
  const { stdout } = await run(binaryPath("ctr"), ["--address", address, "--namespace", "k8s.io", "run", "--rm", image, id, ...args], {
    timeout: 60_000,
    env: { ...process.env, PATH: path },
  });
  return stdout;
}

describe("locally built images in containerd v2", () => {
  it("imports pause and busybox under the names of build/images.json, twice without harm", async () => {
    const refs = await importImages({ address });
    expect(refs).toEqual([imageInfo("pause").ref, imageInfo("busybox").ref]);
    expect(refs).toEqual(["hak.local/pause:3.10.1", "hak.local/busybox:1.35"]);
    await importImages({ address });
    expect((await listImages({ address })).sort()).toEqual([...refs].sort());
    // Only the k8s.io namespace, where the CRI plugin looks.
    expect(await listImages({ address, namespace: "default" })).toEqual([]);
  });

  it("runs the static pause binary in its scratch image", async () => {
    expect(await ctrRun(imageInfo("pause").ref, "hak-pause-v", ["/pause", "-v"])).toMatch(/^pause\.c v3\.10\.1/);
  });

  it("runs busybox's shell and applets (wget, nslookup, httpd) from the test image", async () => {
    const out = await ctrRun(imageInfo("busybox").ref, "hak-busybox", ["sh", "-c", "echo hello; for a in wget nslookup httpd sleep; do echo $a=$(readlink /bin/$a); done; sleep 0 && echo slept"]);
    expect(out.split("\n").filter(Boolean)).toEqual(["hello", "wget=busybox", "nslookup=busybox", "httpd=busybox", "sleep=busybox", "slept"]);
  });

  it("names the containerd and the tarball when an import fails", async () => {
    const env = { ...process.env, HAK_IMAGES_DIR: join(dir, "nowhere") };
    await expect(importImages({ address, env })).rejects.toThrow(HakError);
    await expect(importImages({ address, env })).rejects.toThrow(/image tarball for hak\.local\/pause:3\.10\.1 not found/);
    const bad = join(dir, "bad-images");
    rmSync(bad, { recursive: true, force: true });
    mkdirSync(bad);
    writeFileSync(join(bad, "pause.tar"), "not a tarball");
    await expect(importImages({ address, env: { ...process.env, HAK_IMAGES_DIR: bad }, images: ["pause"] })).rejects.toThrow(
      new RegExp(`containerd at ${address.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}|ctr images import`),
    );
  });

  it("oci-image.sh is reproducible: the same folder gives the same bytes as setup's tarball", async () => {
    const rootfs = join(dir, "pause-rootfs");
    mkdirSync(rootfs);
    copyFileSync(binaryPath("pause"), join(rootfs, "pause"));
    const out = join(dir, "pause-again.tar");
    await run("bash", ["scripts/oci-image.sh", out, imageInfo("pause").ref, rootfs, '["/pause"]', "null"]);
    expect(readFileSync(out).equals(readFileSync(imageTarball("pause")))).toBe(true);
    const bad = await run("bash", ["scripts/oci-image.sh", out, "no-tag", rootfs, "null", "null"]).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/REF must be name:tag/) });
  });
});
