/**
 * Child processes of the benchmark. Every process started here is tracked and killed when the
 * orchestrator exits for any reason (normal end, exception, Ctrl-C), so a failed run leaves no
 * redis-server, sink or worker behind. Our own children (forked .mjs files) also exit by
 * themselves when their IPC channel to the orchestrator closes.
 */
import { fork, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { sleep } from './util.mjs';

const live = new Set();

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function track(child, name) {
  child.benchName = name;
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  live.add(child);
  return child;
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child, graceMs = 8000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exited;
  child.kill('SIGTERM');
  const result = await Promise.race([child.exited, sleep(graceMs).then(() => null)]);
  if (result) return result;
  child.kill('SIGKILL');
  return child.exited;
}

/**
 * Forks one of the benchmark's own .mjs processes and returns a handle whose `call(name, ...args)`
 * runs a handler in the child (see util.mjs serveParent) with a deadline.
 */
export async function forkHelper(file, name, { env, execArgv = [], logFile } = {}) {
  const child = track(
    fork(file, [], {
      env: { ...process.env, ...env },
      execArgv,
      // 'advanced' serialization sends typed arrays of timestamps without JSON.
      serialization: 'advanced',
      stdio: logFile ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
    name,
  );
  if (logFile) {
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
  }
  const pending = new Map();
  let next = 1;
  child.on('message', (message) => {
    const waiter = pending.get(message?.rpc);
    if (!waiter) return;
    pending.delete(message.rpc);
    if ('error' in message) waiter.reject(new Error(`${name}: ${message.error}`));
    else waiter.resolve(message.result);
  });
  child.exited.then(({ code, signal }) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
    pending.clear();
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 15 s`)), 15_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.exited.then(() => reject(new Error(`${name} exited during start-up`)));
  });
  return {
    child,
    pid: child.pid,
    call(call, args = [], timeoutMs = 120_000) {
      const rpc = next++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(rpc);
          reject(new Error(`${name}.${call} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(rpc, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        });
        child.send({ rpc, call, args });
      });
    },
    stop: (graceMs) => stopChild(child, graceMs),
  };
}

/**
 * Spawns an external process (redis-server, `herald worker`, `herald api`) with its output in
 * `logFile`; `onLine` sees each stdout line (to read "API listening" and the like).
 */
export function spawnProcess(command, args, name, { env, logFile, onLine } = {}) {
  const child = track(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }), name);
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    log?.write(chunk);
    if (!onLine) return;
    buffered += chunk.toString('utf8');
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
  child.stderr.on('data', (chunk) => log?.write(chunk));
  return child;
}

/** Resident set size of a process in bytes, from /proc (Linux); null when it is gone. */
export function rssBytes(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in ms, from /proc; null when it is gone. */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name; in clock ticks
    // of 100 Hz on Linux.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

/** CPU ms the whole machine has been busy (every core, from /proc/stat), steal time included. */
export function machineBusyMs() {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1000) / 100;
}

/**
 * CPU ms used by the benchmark: this process, its children that have exited (cutime and cstime,
 * once reaped) and the live ones. Every process of the run is a direct child of this one.
 */
export function benchCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let total = ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  for (const child of live) total += cpuMs(child.pid) ?? 0;
  return total;
}

/**
 * Measures the CPU other programs on this machine use while a run goes on, in cores: the
 * machine's busy time minus the benchmark's own. On a shared machine, a figure taken while
 * something else ran is worth less; the results say how much else ran.
 */
export function backgroundMeter() {
  const start = { at: Date.now(), machine: machineBusyMs(), bench: benchCpuMs() };
  return () => {
    const seconds = (Date.now() - start.at) / 1000;
    const machine = (machineBusyMs() - start.machine) / 1000 / seconds;
    const bench = (benchCpuMs() - start.bench) / 1000 / seconds;
    return { machineCores: machine, benchCores: bench, backgroundCores: Math.max(0, machine - bench) };
  };
}

/**
 * Waits (at most `maxWaitMs`) until programs outside the benchmark use less than `cores`, so a
 * measurement does not start in the middle of someone else's build. Returns the last reading.
 */
export async function awaitQuiet(cores, maxWaitMs) {
  if (!(maxWaitMs > 0)) return { backgroundCores: null };
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const read = backgroundMeter();
    await sleep(250);
    const reading = read();
    if (reading.backgroundCores < cores || Date.now() >= deadline) return reading;
  }
}
