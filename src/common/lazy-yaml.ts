import { createRequire } from "node:module";
import type * as Yaml from "yaml";

/**
 * The yaml library, loaded on first use: it is the largest the agent would
 * otherwise load at start (the inventory reader and kubeconfig rendering
 * import it), and most agents read no inventory and render no kubeconfig.
 * See docs/performance.md.
 */
const requireHere = createRequire(import.meta.url);

export function yaml(): typeof Yaml {
  return requireHere("yaml") as typeof Yaml;
}
