'use strict';

// shop api: a node:http server with Postgres, Redis and SMTP (Mailhog) behind it.
const http = require('node:http');
const config = require('./config');
const log = require('./log');
const { connectRedis, closeClients } = require('./clients');
const { HttpError, sendJson } = require('./http');
const { health } = require('./health');
const { hello } = require('./hello');
const { createSignup, getSignup, ensureSchemaWithRetry } = require('./signups');

// [method, path pattern, handler(req, res, ...captures)]
const routes = [
  ['GET', /^\/$/, hello],
  ['GET', /^\/health$/, health],
  ['POST', /^\/signups$/, createSignup],
  ['GET', /^\/signups\/(\d+)$/, getSignup],
];

async function route(req, res) {
  const { pathname } = new URL(req.url, 'http://localhost');
  const matching = routes.filter(([, pattern]) => pattern.test(pathname));
  if (matching.length === 0) throw new HttpError(404, `no route for ${pathname}`);
  const found = matching.find(([method]) => method === req.method);
  if (!found) {
    const allow = matching.map(([method]) => method).join(', ');
    sendJson(res, 405, { error: `method ${req.method} not allowed` }, { Allow: allow });
    return;
  }
  const [, pattern, handler] = found;
  await handler(req, res, ...pathname.match(pattern).slice(1));
}

const server = http.createServer((req, res) => {
  const started = Date.now();
  res.on('finish', () => {
    log.debug(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`);
  });
  route(req, res).catch((err) => {
    const status = err instanceof HttpError ? err.status : 500;
    if (status === 500) log.error(`${req.method} ${req.url} failed`, err);
    if (res.headersSent) res.destroy();
    else sendJson(res, status, { error: status === 500 ? 'internal error' : err.message });
  });
});
server.keepAliveTimeout = 5000;

let shuttingDown = false;
async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info(`${signal} received, shutting down`);
  // Never take longer than 5 s, whatever hangs.
  setTimeout(() => process.exit(1), 5000).unref();
  // Stop accepting connections and let in-flight requests finish (cut them after 3 s).
  await new Promise((resolve) => {
    server.close(resolve);
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 3000).unref();
  });
  await closeClients();
  log.info('bye');
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

connectRedis();
ensureSchemaWithRetry();
server.listen(config.port, config.host, () => {
  log.info(`shop api listening on http://${config.host}:${config.port}`);
});
