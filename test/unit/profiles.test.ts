import { describe, expect, it } from "vitest";
import { loadInventory, findHost } from "../../src/common/inventory.js";
import { nthAddress, parseCidr } from "../../src/common/ip.js";
import { apiserverSans, kubernetesServiceIp, profilesForRole, requestSpec } from "../../src/common/profiles.js";

const inv = loadInventory("examples/demo-cluster.yaml");
const host = (n: string) => findHost(inv, n)!;

describe("profiles", () => {
  it("derives kubeadm's apiserver SANs (and never localhost)", () => {
    const s = apiserverSans(inv, host("controlplane2"));
    expect(s.dns).toEqual([
      "controlplane2",
      "controlplane2.k8s.local",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
      "api.k8s.local",
    ]);
    expect(s.ip).toEqual(["10.32.0.1", "10.240.0.22", "10.240.0.10"]);
    expect([...s.dns, ...s.ip]).not.toContain("localhost");
    expect(s.ip).not.toContain("127.0.0.1");
  });

  it("adds extra SANs, sorting IPs from names", () => {
    const s = apiserverSans({ ...inv, extraApiserverSans: ["k8s.example.org", "192.0.2.7", "2001:db8::1"] }, host("controlplane1"));
    expect(s.dns).toContain("k8s.example.org");
    expect(s.ip).toEqual(expect.arrayContaining(["192.0.2.7", "2001:db8::1"]));
  });

  it.each([
    ["10.32.0.0/24", "10.32.0.1"],
    ["10.96.0.0/12", "10.96.0.1"],
    ["fd00:10:96::/112", "fd00:10:96::1"],
  ])("first service address of %s is %s", (cidr, ip) => {
    expect(nthAddress(parseCidr(cidr)!, 1)).toBe(ip);
    expect(kubernetesServiceIp({ ...inv, serviceCidr: cidr })).toBe(ip);
  });

  it("etcd certificates carry the host, localhost and loopback", () => {
    const s = requestSpec(inv, "etcd-peer", host("etcd2"));
    expect(s).toEqual({
      profile: "etcd-peer",
      commonName: "etcd2",
      dns: ["etcd2", "etcd2.k8s.local", "localhost"],
      ip: ["10.240.0.12", "127.0.0.1", "::1"],
    });
  });

  it("kubelet identities are system:node:<host>", () => {
    expect(requestSpec(inv, "kubelet", host("worker1")).commonName).toBe("system:node:worker1");
    expect(requestSpec(inv, "kubelet-serving", host("worker2"))).toMatchObject({ dns: ["worker2", "worker2.k8s.local"], ip: ["10.240.0.32"] });
  });

  it("gives each role only its own profiles", () => {
    const names = (r: Parameters<typeof profilesForRole>[0]) => profilesForRole(r).map((p) => p.name);
    expect(names("etcd")).toEqual(["etcd-server", "etcd-peer", "etcd-healthcheck-client", "host-identity"]);
    expect(names("worker")).toEqual(["kubelet", "kubelet-serving", "kube-proxy", "coredns", "host-identity"]);
    expect(names("loadbalancer")).toEqual(["host-identity"]);
    expect(names("controlplane")).not.toContain("admin");
    expect(names("controlplane")).not.toContain("super-admin");
  });
});
