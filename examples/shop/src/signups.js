'use strict';

// POST /signups and GET /signups/<id>: Postgres is the source of truth, Redis a cache
// (`signup:<id>`, one hour) and every signup gets a welcome mail through SMTP.
const { pool, redis, mailer, withTimeout, timeoutMs } = require('./clients');
const { HttpError, sendJson, readJson } = require('./http');
const config = require('./config');
const log = require('./log');

const CACHE_TTL_SECONDS = 3600;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MAX_ID = 2147483647; // `serial` is a 32-bit integer

const cacheKey = (id) => `signup:${id}`;

// Create the table once; a failed attempt is retried by the next caller.
let schemaReady = null;
function ensureSchema() {
  if (!schemaReady) {
    schemaReady = pool.query(`
      CREATE TABLE IF NOT EXISTS signups (
        id serial PRIMARY KEY,
        email text NOT NULL,
        created_at timestamptz DEFAULT now()
      )`).catch((err) => {
      schemaReady = null;
      throw err;
    });
  }
  return schemaReady;
}

// At startup: keep trying until Postgres answers, without blocking the server.
async function ensureSchemaWithRetry(delayMs = 1000) {
  for (;;) {
    try {
      await ensureSchema();
      log.info('postgres: table signups is ready');
      return;
    } catch (err) {
      log.warn(`postgres: schema not ready yet, retrying in ${delayMs} ms`, err);
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    }
  }
}

async function dbQuery(text, values) {
  try {
    await ensureSchema();
    return await pool.query(text, values);
  } catch (err) {
    log.error('postgres: query failed', err);
    throw new HttpError(503, `database unavailable: ${log.describeError(err)}`);
  }
}

function toSignup(row) {
  return { id: row.id, email: row.email, created_at: new Date(row.created_at).toISOString() };
}

async function cacheSignup(signup) {
  try {
    await withTimeout(
      redis.set(cacheKey(signup.id), JSON.stringify(signup), { EX: CACHE_TTL_SECONDS }),
      timeoutMs, 'redis SET');
    return true;
  } catch (err) {
    log.warn(`redis: could not cache signup ${signup.id}`, err);
    return false;
  }
}

async function sendWelcome(email) {
  try {
    await mailer.sendMail({
      from: config.mailFrom,
      to: email,
      subject: 'Welcome to shop',
      text: `Hello ${email},\n\nthanks for signing up to shop.\n`,
    });
    return true;
  } catch (err) {
    log.warn(`smtp: could not send welcome mail to ${email}`, err);
    return false;
  }
}

async function createSignup(req, res) {
  const body = await readJson(req);
  const email = typeof body?.email === 'string' ? body.email.trim() : '';
  if (!email) throw new HttpError(400, 'email is required');
  if (email.length > 254 || !EMAIL_RE.test(email)) throw new HttpError(400, 'email is invalid');

  const { rows } = await dbQuery(
    'INSERT INTO signups (email) VALUES ($1) RETURNING id, email, created_at', [email]);
  const signup = toSignup(rows[0]);
  // The row is committed: the cache and the mail are best effort, reported in the reply.
  const [cached, mailed] = await Promise.all([cacheSignup(signup), sendWelcome(email)]);
  log.info(`signup ${signup.id} created`, { cached, mailed });
  sendJson(res, 201, { id: signup.id, email: signup.email, cached, mailed });
}

async function getSignup(req, res, idText) {
  const id = Number(idText);
  if (!Number.isSafeInteger(id) || id < 1 || id > MAX_ID) {
    throw new HttpError(404, `signup ${idText} not found`);
  }
  try {
    const hit = await withTimeout(redis.get(cacheKey(id)), timeoutMs, 'redis GET');
    if (hit) {
      sendJson(res, 200, { ...JSON.parse(hit), source: 'cache' });
      return;
    }
  } catch (err) {
    log.warn(`redis: cache read for signup ${id} failed, using the database`, err);
  }
  const { rows } = await dbQuery('SELECT id, email, created_at FROM signups WHERE id = $1', [id]);
  if (rows.length === 0) throw new HttpError(404, `signup ${id} not found`);
  const signup = toSignup(rows[0]);
  await cacheSignup(signup);
  sendJson(res, 200, { ...signup, source: 'db' });
}

module.exports = { createSignup, getSignup, ensureSchemaWithRetry };
