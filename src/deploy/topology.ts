/** The cluster wiring moved to src/plan/topology.ts (derived once, there); re-exported for deploy's callers. */
export * from "../plan/topology.js";
