import { describe, expect, it } from "vitest";
import { applyOrder, listedAs, type PlanEntry } from "../../src/pki/reconcile.js";

const e = (id: string, host?: string, apply = true, kind: PlanEntry["kind"] = id.startsWith("entity") ? "entity" : id.startsWith("alias") ? "entity-alias" : "pki-role"): PlanEntry => ({
  id,
  kind,
  action: apply ? "create" : "unchanged",
  diffs: [],
  host,
  apply: apply ? async () => undefined : undefined,
});

describe("applyOrder: what bootstrap may apply side by side", () => {
  it("shared objects stay in plan order; each host's objects stay in plan order in two chains (identity, the rest); unchanged entries drop out", () => {
    const entries = [
      e("mount a"),
      e("role x", "h1"),
      e("ca a"),
      e("role y", "h2"),
      e("approle h1", "h1"),
      e("unchanged h2", "h2", false),
      e("policy p"),
      e("role-id h1", "h1"),
      e("entity h2", "h2"),
      e("alias h2", "h2"),
      e("entity h1", "h1"),
      e("alias h1 approle", "h1"),
      e("alias h1 cert", "h1"),
      e("unchanged shared", undefined, false),
    ];
    const { shared, chains } = applyOrder(entries);
    expect(shared.map((x) => x.id)).toEqual(["mount a", "ca a", "policy p"]);
    expect(chains.map((g) => g.map((x) => x.id))).toEqual([
      ["role x", "approle h1", "role-id h1"],
      ["entity h1", "alias h1 approle", "alias h1 cert"],
      ["role y"],
      ["entity h2", "alias h2"],
    ]);
  });

  it("nothing to apply: no batches", () => {
    expect(applyOrder([e("a", undefined, false), e("b", "h", false)])).toEqual({ shared: [], chains: [] });
  });
});

describe("listedAs: LISTs instead of per-object reads", () => {
  const listed = new Map([
    ["pki-etcd/roles", new Set(["etcd-server-etcd1"])],
    ["pki-etcd/cel/roles", new Set<string>()],
    ["auth/approle/role", new Set(["etcd1"])],
    ["identity/entity/name", new Set(["hak-host-etcd1"])],
  ]);
  it("an object named in its collection's LIST exists, one not named does not", () => {
    expect(listedAs(listed, "pki-etcd/roles/etcd-server-etcd1")).toBe(true);
    expect(listedAs(listed, "pki-etcd/roles/etcd-server-etcd2")).toBe(false);
    expect(listedAs(listed, "pki-etcd/cel/roles/etcd-peer-etcd1")).toBe(false);
    expect(listedAs(listed, "identity/entity/name/hak-host-etcd1")).toBe(true);
  });
  it("a sub-path is judged by its parent object (the role ID lives under its role)", () => {
    expect(listedAs(listed, "auth/approle/role/etcd1/role-id")).toBe(true);
    expect(listedAs(listed, "auth/approle/role/etcd2/role-id")).toBe(false);
  });
  it("no LIST covers it: undefined, so the object is read", () => {
    expect(listedAs(listed, "sys/policies/acl/hak-etcd")).toBeUndefined();
    expect(listedAs(listed, "pki-kubernetes/roles/admin")).toBeUndefined();
    // A prefix of a listed path is not under it.
    expect(listedAs(listed, "pki-etcd/rolesx/a")).toBeUndefined();
  });
});
