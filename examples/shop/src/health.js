'use strict';

// GET /health: Postgres `SELECT 1` and Redis `PING`, each bounded by a ~1 s timeout,
// run in parallel so the endpoint answers within about a second even when both are down.
const { pool, redis, withTimeout, timeoutMs } = require('./clients');
const { sendJson } = require('./http');
const { describeError } = require('./log');

const checks = {
  db: () => pool.query({ text: 'SELECT 1', query_timeout: timeoutMs }),
  redis: () => redis.ping(),
};

async function runCheck(name, check) {
  try {
    await withTimeout(check(), timeoutMs, name);
    return 'ok';
  } catch (err) {
    return describeError(err);
  }
}

async function health(req, res) {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => runCheck(name, checks[name])));
  const body = { status: 'ok', checks: {} };
  names.forEach((name, i) => {
    body.checks[name] = results[i];
    if (results[i] !== 'ok') body.status = 'fail';
  });
  sendJson(res, body.status === 'ok' ? 200 : 503, body, { 'Cache-Control': 'no-store' });
}

module.exports = { health };
