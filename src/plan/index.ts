/** The host plan: what every consumer (NixOS modules, local cluster, demo) reads. See docs/plan.md. */
export { hostPlan, allHostPlans, clusterPlan } from "./plan.js";
export { manifestsYaml } from "./cluster.js";
export { planOptionsSchema, parsePlanOptions, KUBERNETES_VERSION, type PlanOptions, type PlanOptionsInput } from "./options.js";
export * from "./schema.js";
export { PATH_ROOTS } from "./paths.js";
export { relocatePlan, pathMapper, type RelocateOptions } from "./relocate.js";
export { renderHostPlan, renderClusterPlan } from "./render.js";
