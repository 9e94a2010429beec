// A small static server for the demo, with no dependencies: web/ at /, the shipped models
// (assets/models) at /models/ and the samples (assets/samples) at /samples/, so neither is
// copied. Loopback only by default.
//
//   node web/serve.mjs [--port 8080] [--host 127.0.0.1]
//
// The browser test imports startServer() and listens on a free port.

import http from "node:http";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(web);

const MOUNTS = [
  ["/models/", path.join(root, "assets/models")],
  ["/samples/", path.join(root, "assets/samples")],
  ["/", web],
];

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".wl": "application/octet-stream",
  ".wlm": "application/octet-stream",
};

// What the site is made of; tools, tests and node_modules stay private.
const PRIVATE = /(^|\/)(\.|node_modules\/|test\/|tools\/|package(-lock)?\.json$|serve\.mjs$)/;

function resolve(urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  if (decoded.endsWith("/")) decoded += "index.html";
  for (const [prefix, dir] of MOUNTS) {
    if (!decoded.startsWith(prefix)) continue;
    const rel = path.posix.normalize(decoded.slice(prefix.length));
    if (rel.startsWith("..") || path.posix.isAbsolute(rel)) return null;
    if (dir === web && PRIVATE.test(rel)) return null;
    const type = TYPES[path.extname(rel)];
    return type ? { file: path.join(dir, rel), type } : null;
  }
  return null;
}

export function startServer({ port = 8080, host = "127.0.0.1" } = {}) {
  const server = http.createServer(async (req, res) => {
    const target = req.method === "GET" || req.method === "HEAD"
      ? resolve(new URL(req.url, "http://x").pathname)
      : null;
    try {
      if (!target || !(await stat(target.file)).isFile()) throw new Error("not found");
      const body = await readFile(target.file);
      res.writeHead(200, {
        "Content-Type": target.type,
        "Content-Length": body.length,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("not found\n");
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => ok(server));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const port = Number(arg("--port", process.env.PORT || 8080));
  const host = arg("--host", "127.0.0.1");
  startServer({ port, host }).then(
    (s) => {
      const { port } = s.address();
      console.log(`walloc demo: http://${host === "0.0.0.0" ? "localhost" : host}:${port}/  (Ctrl-C stops)`);
    },
    (e) => {
      console.error(`walloc demo: cannot listen on ${host}:${port}: ${e.message}`);
      process.exit(1);
    },
  );
}
