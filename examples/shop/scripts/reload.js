'use strict';

// A tiny reloader for development, with no dependencies: runs `node <script>` and restarts it
// whenever a file changes under the watched folders (default: the script's folder).
//
//   node scripts/reload.js [--watch DIR]... src/server.js [args...]
//
// It watches FOLDERS, not files: one inotify watch per directory (added for new ones as they
// appear). An editor that saves by writing a temp file and renaming it over the original (vim,
// JetBrains "safe write", `sed -i`) replaces the file's inode; a watch on the file itself
// (`node --watch`, nodejs/node#51621) then never hears of the next save, while the folder's
// watch sees every rename into it. Editors' scratch files (.swp, ~, 4913, .#x) are ignored.
//
// On a change (after DEBOUNCE_MS of quiet) the app gets SIGTERM, SIGKILL after GRACE_MS,
// and starts again. SIGTERM/SIGINT to the reloader stop the app and then the reloader.
//
// Starting node and loading the app's dependencies takes most of a restart (pg, redis and
// nodemailer: about half a second on a small machine). So the next app process is started
// ahead: it loads package.json's `dependencies` (which a source edit does not
// change) and waits; on a change it loads the app's own files, fresh, and runs them as the
// main module. RELOAD_PRELOAD=0 turns this off (for a dependency with side effects on require).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const DEBOUNCE_MS = Number(process.env.RELOAD_DEBOUNCE_MS || 20);
const GRACE_MS = Number(process.env.RELOAD_GRACE_MS || 2000);
const PRELOAD = process.env.RELOAD_PRELOAD !== '0';
const IGNORED = [/\.sw[a-p]x?$/, /~$/, /^4913$/, /^\.#/, /^#.*#$/, /\.tmp$/, /^\.DS_Store$/, /^node_modules$/, /^\.git$/];

if (process.argv[2] === '--standby') standby(process.argv[3], process.argv.slice(4));
else supervise(process.argv.slice(2));

// -- the next app process, started ahead --------------------------------------------------------
function standby(script, args) {
  const main = path.resolve(script);
  process.on('message', (message) => {
    if (message !== 'go') return;
    process.disconnect();
    process.argv = [process.argv[0], main, ...args];
    require('node:module').runMain(main);
  });
  const load = require('node:module').createRequire(main);
  for (const name of dependencies(path.dirname(main))) {
    try {
      load(name);
    } catch {
      // an ES module, or one that needs the app's setup first: the app loads it itself
    }
  }
  process.send('ready'); // 'go' is sent only after this, so it cannot arrive unheard
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

// -- the reloader -------------------------------------------------------------------------------
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

  const watchers = new Map(); // folder -> fs.FSWatcher
  let child = null; // the running app
  let next = null; // the app process started ahead (PRELOAD)
  let timer = null;
  let restarting = false;
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

  function prepare() {
    if (!PRELOAD || stopping || next) return;
    const ahead = spawn(process.execPath, [__filename, '--standby', script, ...args], {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    });
    ahead.ready = false;
    ahead.go = false;
    ahead.on('message', (message) => {
      if (message !== 'ready') return;
      ahead.ready = true;
      if (ahead.go) ahead.send('go');
    });
    ahead.on('exit', () => {
      if (next === ahead) next = null;
    });
    next = ahead;
  }

  function start() {
    if (next && next.connected) {
      // still loading the dependencies, or waiting: it runs the app as soon as it can
      child = next;
      next = null;
      if (child.ready) child.send('go');
      else child.go = true;
    } else {
      next = null;
      child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
    }
    setImmediate(prepare); // the next one loads its dependencies while this one runs
    const current = child;
    current.on('exit', (code, signal) => {
      if (child === current) child = null;
      if (stopping) return;
      if (!restarting) console.error(`[reload] app exited (${signal || code}); waiting for a change`);
    });
  }

  function stopChild() {
    return new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const current = child;
      const kill = setTimeout(() => current.kill('SIGKILL'), GRACE_MS);
      current.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      current.kill('SIGTERM');
    });
  }

  async function restart(changed) {
    if (restarting) {
      schedule(changed); // once this restart is done, once more
      return;
    }
    restarting = true;
    console.log(`[reload] ${path.relative(process.cwd(), changed) || changed} changed: restarting`);
    await stopChild();
    restarting = false;
    start();
  }

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      stopping = true;
      clearTimeout(timer);
      if (next) next.kill('SIGKILL');
      stopChild().then(() => process.exit(0));
    });
  }

  for (const folder of folders) watchTree(path.resolve(folder));
  start();
}
