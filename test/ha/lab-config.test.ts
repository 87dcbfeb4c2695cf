import { describe, expect, it } from "vitest";
import { InputError } from "../../src/common/errors.js";
import { labInventory, labSubnetBase } from "../../src/ha/lab.js";
import { hostPlan } from "../../src/plan/plan.js";

describe("the HA lab's subnet and inventory (pure parts)", () => {
  it("10.241.0.0/24 unless HAK_HA_SUBNET names another /24; empty counts as unset", () => {
    expect(labSubnetBase({})).toBe("10.241.0");
    expect(labSubnetBase({ HAK_HA_SUBNET: "" })).toBe("10.241.0");
    expect(labSubnetBase({ HAK_HA_SUBNET: "10.242.7.0/24" })).toBe("10.242.7");
  });
  it("anything else is an input error naming the variable", () => {
    for (const bad of ["10.242.0.0/16", "10.242.0.1/24", "300.1.1.0/24", "x"]) {
      const err = (() => {
        try {
          labSubnetBase({ HAK_HA_SUBNET: bad });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).where).toBe("HAK_HA_SUBNET");
    }
  });
  it("the lab's load balancers get the plan's keepalived.conf for their subnet: VIP, unicast peer, priorities", () => {
    const inv = labInventory("10.250.3");
    const conf = hostPlan(inv, "loadbalancer2").files.find((f) => f.path.endsWith("keepalived.conf"))!.content;
    expect(conf).toContain("10.250.3.10/32");
    expect(conf).toMatch(/unicast_src_ip 10\.250\.3\.42\s+unicast_peer \{\s+10\.250\.3\.41\s+\}/);
    expect(conf).toMatch(/state BACKUP\s+interface eth0\s+virtual_router_id 51\s+priority 190/);
  });
});
