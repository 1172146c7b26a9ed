'use strict';

// A tiny reloader for development, with no dependencies: runs `node <script>` and runs it
// again whenever a file changes under the watched folders (default: the script's folder).
//
//   node scripts/reload.js [--watch DIR]... src/server.js [args...]
//
// It watches FOLDERS, not files: one inotify watch per directory (added for new ones as they
// appear). An editor that saves by writing a temp file and renaming it over the original (vim,
// JetBrains "safe write", `sed -i`) replaces the file's inode; a watch on the file itself
// (`node --watch`, nodejs/node#51621) then never hears of the next save, while the folder's
// watch sees every rename into it. Editors' scratch files (.swp, ~, 4913, .#x) are ignored.
//
// Restarts are quick and leave no gap:
// - The app runs as a worker of node's `cluster`, so the port it listens on is shared by the
//   old and the new process: the new one starts while the old one still answers, and the old
//   one gets SIGTERM (SIGKILL after GRACE_MS) once the new one listens. An app that never
//   listens is stopped first and then started, as usual. A new version that fails to start
//   leaves the old one answering (its error is in the log).
// - The next process is started ahead: it loads package.json's `dependencies` (which a source
//   edit does not change) and waits; on a change it loads the app's own files, fresh, and runs
//   them as the main module. Loading node and the dependencies is most of a restart (pg, redis
//   and nodemailer: about half a second on a small machine). RELOAD_PRELOAD=0 turns this off
//   (for a dependency with side effects on require).
// SIGTERM/SIGINT to the reloader stop the app and then the reloader.
const cluster = require('node:cluster');
const fs = require('node:fs');
const path = require('node:path');

const DEBOUNCE_MS = Number(process.env.RELOAD_DEBOUNCE_MS || 20);
const GRACE_MS = Number(process.env.RELOAD_GRACE_MS || 2000);
const LISTEN_WAIT_MS = Number(process.env.RELOAD_LISTEN_WAIT_MS || 15000); // then the old one goes anyway
const PRELOAD = process.env.RELOAD_PRELOAD !== '0';
const IGNORED = [/\.sw[a-p]x?$/, /~$/, /^4913$/, /^\.#/, /^#.*#$/, /\.tmp$/, /^\.DS_Store$/, /^node_modules$/, /^\.git$/];

if (cluster.isPrimary) supervise(process.argv.slice(2));
else standby(process.env.RELOAD_SCRIPT, JSON.parse(process.env.RELOAD_ARGS || '[]'));

// -- the app process, started ahead ---------------------------------------------------------------
function standby(script, args) {
  const main = path.resolve(script);
  process.on('message', function go(message) {
    if (message !== 'go') return;
    process.removeListener('message', go);
    process.argv = [process.argv[0], main, ...args];
    require('node:module').runMain(main);
  });
  if (process.env.RELOAD_PRELOAD !== '0') {
    const load = require('node:module').createRequire(main);
    for (const name of dependencies(path.dirname(main))) {
      try {
        load(name);
      } catch {
        // an ES module, or one that needs the app's setup first: the app loads it itself
      }
    }
  }
  process.send('ready'); // 'go' comes only after this, so it cannot arrive unheard
}

function dependencies(folder) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      return Object.keys(manifest.dependencies || {});
    } catch (err) {
      if (err.code !== 'ENOENT') return [];
    }
    if (path.dirname(dir) === dir) return [];
  }
}

// -- the reloader ---------------------------------------------------------------------------------
function supervise(argv) {
  const folders = [];
  let i = 0;
  while (argv[i] === '--watch' && argv[i + 1]) {
    folders.push(argv[i + 1]);
    i += 2;
  }
  const [script, ...args] = argv.slice(i);
  if (!script) {
    console.error('usage: node reload.js [--watch DIR]... SCRIPT [ARGS...]');
    process.exit(2);
  }
  if (!folders.length) folders.push(path.dirname(script));
  // each worker accepts on the shared port itself (no hop through this process)
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: __filename, args: [] });

  const watchers = new Map(); // folder -> fs.FSWatcher
  let current = null; // the worker that runs the app (or is about to)
  let next = null; // a worker started ahead, waiting for 'go'
  let timer = null;
  let stopping = false;

  const ignored = (name) => IGNORED.some((re) => re.test(name));

  function watchTree(folder) {
    if (watchers.has(folder)) return;
    let watcher;
    try {
      watcher = fs.watch(folder, { persistent: true }, (event, name) => {
        if (name && ignored(path.basename(name))) return;
        if (name && event === 'rename') addIfFolder(path.join(folder, name));
        schedule(name ? path.join(folder, name) : folder);
      });
    } catch (err) {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') console.error(`[reload] cannot watch ${folder}: ${err.message}`);
      return;
    }
    watcher.on('error', () => forget(folder)); // the folder went away
    watchers.set(folder, watcher);
    let entries = [];
    try {
      entries = fs.readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !ignored(entry.name)) watchTree(path.join(folder, entry.name));
    }
  }

  function addIfFolder(full) {
    try {
      if (fs.statSync(full).isDirectory()) watchTree(full);
    } catch {
      forget(full); // removed, or renamed away
    }
  }

  function forget(folder) {
    for (const [name, watcher] of watchers) {
      if (name === folder || name.startsWith(folder + path.sep)) {
        watcher.close();
        watchers.delete(name);
      }
    }
  }

  function schedule(changed) {
    clearTimeout(timer);
    timer = setTimeout(() => restart(changed), DEBOUNCE_MS);
  }

  function fork() {
    const worker = cluster.fork({
      RELOAD_SCRIPT: script,
      RELOAD_ARGS: JSON.stringify(args),
      RELOAD_PRELOAD: PRELOAD ? '1' : '0',
    });
    worker.ready = false;
    worker.go = false;
    worker.listened = false;
    worker.on('message', (message) => {
      if (message !== 'ready') return;
      worker.ready = true;
      if (worker.go) worker.send('go');
    });
    worker.on('listening', () => {
      worker.listened = true;
      if (worker === current) retireAllBut(worker);
    });
    worker.on('exit', (code, signal) => {
      if (next === worker) next = null;
      if (worker === current) {
        current = null;
        if (!stopping && !worker.retired) console.error(`[reload] app exited (${signal || code}); waiting for a change`);
      }
    });
    return worker;
  }

  function stop(worker) {
    if (worker.retired || worker.isDead()) return;
    worker.retired = true;
    const kill = setTimeout(() => worker.process.kill('SIGKILL'), GRACE_MS);
    worker.once('exit', () => clearTimeout(kill));
    worker.process.kill('SIGTERM');
  }

  // every worker but this one: the old versions, once the new one answers
  function retireAllBut(keep) {
    for (const worker of Object.values(cluster.workers)) {
      if (worker !== keep && worker !== next) stop(worker);
    }
  }

  function start() {
    const worker = next || fork();
    next = null;
    const previous = current;
    current = worker;
    worker.go = true;
    if (worker.ready) worker.send('go');
    if (previous && !previous.listened) stop(previous); // not a server: stop it first, as usual
    if (previous) {
      // a new version that never listens: the old one goes after LISTEN_WAIT_MS anyway
      const wait = setTimeout(() => current === worker && retireAllBut(worker), LISTEN_WAIT_MS);
      wait.unref();
    }
    if (PRELOAD) setImmediate(() => {
      if (!next && !stopping) next = fork(); // loads its dependencies while this one starts
    });
  }

  function restart(changed) {
    console.log(`[reload] ${path.relative(process.cwd(), changed) || changed} changed: restarting`);
    // a version still starting has read the files before this change: it goes too
    if (current && !current.listened && current.go) stop(current);
    start();
  }

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      stopping = true;
      clearTimeout(timer);
      const workers = Object.values(cluster.workers);
      if (!workers.length) process.exit(0);
      let left = workers.length;
      for (const worker of workers) {
        worker.once('exit', () => --left === 0 && process.exit(0));
        stop(worker);
      }
    });
  }

  for (const folder of folders) watchTree(path.resolve(folder));
  start();
}
