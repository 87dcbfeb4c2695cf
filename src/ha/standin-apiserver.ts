/**
 * A STAND-IN for kube-apiserver behind haproxy in the load-balancer lab
 * (src/ha/lab.ts): a TLS server answering GET /readyz (haproxy's check) and
 * GET /version (the client's call) with its own name, so the test sees which
 * backend served. It is not an apiserver and is never counted as one; the
 * real apiservers come with the local cluster (src/cluster).
 *
 * Usage: standin-apiserver NAME ADDRESS PORT CERT KEY
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const [name, address, port, cert, key] = process.argv.slice(2);
if (!name || !address || !port || !cert || !key) {
  process.stderr.write("usage: standin-apiserver NAME ADDRESS PORT CERT KEY\n");
  process.exit(2);
}
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  if (req.url === "/readyz" || req.url === "/livez") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  } else if (req.url === "/version") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ standIn: true, server: name }));
  } else {
    res.writeHead(404).end();
  }
});
server.listen(Number(port), address, () => process.stdout.write(`stand-in apiserver ${name} on ${address}:${port}\n`));
