'use strict';

// Every setting comes from the environment (devenv injects these); the defaults suit a
// local `npm start` against services on localhost.
function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

module.exports = Object.freeze({
  port: intFromEnv('PORT', 3000),
  host: '0.0.0.0',
  databaseUrl: process.env.DATABASE_URL || 'postgres://app:devenv@localhost:5432/app',
  redisUrl: process.env.REDIS_URL || 'redis://localhost:6379/0',
  smtpHost: process.env.SMTP_HOST || 'localhost',
  smtpPort: intFromEnv('SMTP_PORT', 1025),
  mailFrom: process.env.MAIL_FROM || 'shop@example.test',
  logLevel: (process.env.LOG_LEVEL || 'info').toLowerCase(),
  // How long one dependency call may take before we give up on it.
  dependencyTimeoutMs: 1000,
});
