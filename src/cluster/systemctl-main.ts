import { systemctlMain } from "./systemctl.js";

systemctlMain(process.argv.slice(2), process.env).then((code) => process.exit(code));
