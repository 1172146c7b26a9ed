'use strict';

// `npm run migrate`: apply db/migrations/*.sql in name order, each once, each in a
// transaction, recording what ran in schema_migrations. devenv runs it in a one-off api
// container (devenv.yaml `data.migrate`); it exits non-zero on the first failure.
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');
const config = require('./config');

const DIR = process.env.MIGRATIONS_DIR || path.join(__dirname, '..', 'db', 'migrations');

async function main() {
  const client = new Client({ connectionString: config.databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = new Set((await client.query('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.sql')).sort();
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = fs.readFileSync(path.join(DIR, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`${file}: ${err.message}`);
      }
      console.log(`migrated ${file}`);
    }
  } finally {
    await client.end();
  }
}

main().catch((err) => {
  console.error(`migrate failed: ${err.message}`);
  process.exit(1);
});
