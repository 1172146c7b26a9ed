'use strict';

// The three backing services: a Postgres pool, a Redis client and an SMTP transport.
// All of them are set up so that a missing dependency fails fast instead of hanging
// a request, and so that their errors are logged instead of crashing the process.
const { Pool } = require('pg');
const { createClient } = require('redis');
const nodemailer = require('nodemailer');
const config = require('./config');
const log = require('./log');

const timeoutMs = config.dependencyTimeoutMs;

// Reject with `${label} timed out` unless `promise` settles within `ms`.
function withTimeout(promise, ms, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const pool = new Pool({
  connectionString: config.databaseUrl,
  max: 5,
  connectionTimeoutMillis: timeoutMs, // give up connecting after 1 s
  query_timeout: 5000, // client-side cap for any query; callers may pass a shorter one
  idleTimeoutMillis: 10000,
});
// An idle client whose server went away emits 'error' on the pool: without this
// listener that would be an uncaught exception.
pool.on('error', (err) => log.warn('postgres: idle client error', err));

const redis = createClient({
  url: config.redisUrl,
  // Fail commands at once while disconnected instead of queueing them forever.
  disableOfflineQueue: true,
  socket: {
    connectTimeout: timeoutMs,
    // Keep retrying (so we recover when redis comes back), at most every 2 s.
    reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 2000),
  },
});
let redisReady = false;
redis.on('ready', () => {
  redisReady = true;
  log.info('redis: ready');
});
redis.on('error', (err) => {
  // Logged once per outage at warn, then every retry at debug.
  if (redisReady) log.warn('redis: connection lost', err);
  else log.debug('redis: error', err);
  redisReady = false;
});

function connectRedis() {
  // Resolves once connected; node-redis keeps retrying in the background until then.
  redis.connect().catch((err) => log.error('redis: gave up connecting', err));
}

const mailer = nodemailer.createTransport({
  host: config.smtpHost,
  port: config.smtpPort,
  secure: false,
  ignoreTLS: true, // Mailhog speaks plain SMTP without auth
  connectionTimeout: 3000,
  greetingTimeout: 3000,
  socketTimeout: 5000,
});

async function closeClients() {
  await Promise.allSettled([
    pool.end(),
    (async () => {
      if (!redis.isOpen) return;
      if (redis.isReady) await redis.quit();
      else await redis.disconnect();
    })(),
  ]);
  mailer.close();
}

module.exports = { pool, redis, mailer, connectRedis, closeClients, withTimeout, timeoutMs };
