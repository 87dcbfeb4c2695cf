// @peculiar/x509 resolves its parsers through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * certs.ts (Node's crypto only) and @peculiar/x509 for what makes whole
 * certificates: the local server's TLS CA and test fixtures. Programs that
 * only need keys, CSRs and facts (the agent) import certs.ts and never load
 * this library (about 20 MiB and 140 ms of CPU in a node process).
 */

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export * from "./certs.js";
export { x509 };
