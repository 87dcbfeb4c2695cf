import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { binaryPath, cniPluginDir, imageInfo, imageTarball } from "../../src/common/binaries.js";
import { HakError } from "../../src/common/errors.js";

const dir = mkdtempSync(join(tmpdir(), "hak-bin-"));

describe("binaries: where code finds the cluster's binaries", () => {
  it("HAK_BIN_DIR overrides .tools/bin; an executable there is returned", () => {
    writeFileSync(join(dir, "kubelet"), "#!/bin/sh\n");
    chmodSync(join(dir, "kubelet"), 0o755);
    expect(binaryPath("kubelet", { HAK_BIN_DIR: dir })).toBe(join(dir, "kubelet"));
  });

  it("a missing or non-executable binary is a HakError naming it, where, and the fix", () => {
    writeFileSync(join(dir, "etcd"), "not executable");
    chmodSync(join(dir, "etcd"), 0o644);
    for (const name of ["etcd", "coredns"] as const) {
      let err: unknown;
      try {
        binaryPath(name, { HAK_BIN_DIR: dir });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HakError);
      const text = (err as HakError).describe();
      expect(text).toContain(`${name} not found or not executable at ${join(dir, name)}`);
      expect(text).toMatch(/^HAK_BIN_DIR: /);
      expect(text).toContain("run scripts/setup.sh");
    }
  });

  it("the CNI folder must hold every plugin; the missing ones are named", () => {
    const cni = join(dir, "cni");
    mkdirSync(cni);
    for (const p of ["bridge", "loopback"]) {
      writeFileSync(join(cni, p), "");
      chmodSync(join(cni, p), 0o755);
    }
    expect(() => cniPluginDir({ HAK_CNI_BIN_DIR: cni })).toThrow(/CNI plugins host-local, portmap not found in/);
    for (const p of ["host-local", "portmap"]) {
      writeFileSync(join(cni, p), "");
      chmodSync(join(cni, p), 0o755);
    }
    expect(cniPluginDir({ HAK_CNI_BIN_DIR: cni })).toBe(cni);
  });

  it("image names come from build/images.json; a missing tarball names the image", () => {
    expect(imageInfo("pause")).toEqual({ ref: "hak.local/pause:3.10.1", file: "pause.tar" });
    expect(imageInfo("busybox").ref).toMatch(/^hak\.local\/busybox:/);
    expect(() => imageTarball("busybox", { HAK_IMAGES_DIR: dir })).toThrow(/image tarball for hak\.local\/busybox:1\.35 not found/);
  });
});
