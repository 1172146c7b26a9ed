'use strict';

// A tiny levelled logger: one line per event on stdout/stderr, filtered by LOG_LEVEL.
const { logLevel } = require('./config');

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };
const threshold = LEVELS[logLevel] ?? LEVELS.info;

// A readable one-line message for any error. Node reports a failed connection to a name
// with several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError with an
// empty message, so spell out the inner errors.
function describeError(err) {
  if (err instanceof AggregateError && err.errors?.length) {
    return err.errors.map(describeError).join('; ');
  }
  return err?.message || String(err);
}

function write(level, message, extra) {
  if (LEVELS[level] < threshold) return;
  let line = `${new Date().toISOString()} ${level.padEnd(5)} ${message}`;
  if (extra !== undefined) {
    line += ` ${extra instanceof Error ? describeError(extra) : JSON.stringify(extra)}`;
  }
  (LEVELS[level] >= LEVELS.warn ? process.stderr : process.stdout).write(line + '\n');
}

module.exports = {
  describeError,
  debug: (msg, extra) => write('debug', msg, extra),
  info: (msg, extra) => write('info', msg, extra),
  warn: (msg, extra) => write('warn', msg, extra),
  error: (msg, extra) => write('error', msg, extra),
};
