/**
 * The NAT lab: `Lab.up(spec)` builds an internet, servers and sites behind real netfilter NATs in
 * network namespaces; `lab.run` / `lab.spawn` execute programs inside any host; `lab.down()` removes
 * everything it made. Crash safety: the state file lists each namespace before it is created, a
 * non-persistent lab is removed synchronously when its process exits, and `Lab.cleanupStale()`
 * removes labs whose owning process died (SIGKILL) — it runs at every `Lab.up`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError, LabErrorCode } from './errors.js';
import {
  type HostProcess,
  nodeArgv,
  runIn,
  spawnDaemon,
  spawnIn,
  waitForLog,
  type RunOptions,
  type RunResult,
} from './host-process.js';
import { buildNetwork } from './build.js';
import { deleteNamespace, deleteNamespaceSync, listNamespaces, loadRuleset } from './namespaces.js';
import { miniupnpdRuleset, PORTMAP_STUN_PORTS, startMiniupnpd, stunServerCommand } from './portmap.js';
import { LAB_SERVER_PORTS, labServerCommand } from './rendezvous-server.js';
import { createState, isProcessAlive, listStates, readState, removeState, writeState, type LabState } from './state.js';
import {
  allNodes,
  planLab,
  planNamespaces,
  validateSpec,
  type LabPlan,
  type LabSpec,
  type NodePlan,
  type SitePlan,
} from './topology.js';

export interface UpOptions {
  /** Keep the lab after this process exits (the CLI's `lab up`). Default false. */
  readonly persistent?: boolean;
  /**
   * Start a `punchline server` on server1 (both its addresses, for RFC 5780) once the network is up;
   * its address string is `lab.serverAddress`. Default false.
   */
  readonly server?: boolean;
}

const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

export class Lab {
  readonly plan: LabPlan;
  readonly #state: LabState;
  readonly #processes = new Set<HostProcess>();
  #down = false;
  #portmapStun: Promise<void> | undefined;
  #scratchDir: string | undefined;

  private constructor(state: LabState, plan: LabPlan) {
    this.#state = state;
    this.plan = plan;
  }

  get name(): string {
    return this.plan.name;
  }

  get prefix(): string {
    return this.plan.prefix;
  }

  /** The address string of the lab's `punchline server` (see UpOptions.server), if it has one. */
  get serverAddress(): string | undefined {
    return this.#state.serverAddress;
  }

  /** Builds the lab described by `spec`. On failure everything created so far is removed. */
  static async up(spec: LabSpec, options: UpOptions = {}): Promise<Lab> {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      throw new LabError(LabErrorCode.Unavailable, 'the NAT lab needs root on Linux (network namespaces and nftables)');
    }
    validateSpec(spec);
    await Lab.cleanupStale();
    const prefix = await freePrefix();
    const plan = planLab(spec, prefix);
    const state: LabState = {
      version: 1,
      name: spec.name,
      prefix,
      createdAt: new Date().toISOString(),
      ownerPid: process.pid,
      persistent: options.persistent ?? false,
      namespaces: [],
      dirs: [],
      plan,
      ready: false,
    };
    if (!createState(state)) {
      throw new LabError(
        LabErrorCode.Exists,
        `lab '${spec.name}' is already up (run 'punchline lab down ${spec.name}')`,
      );
    }
    const lab = new Lab(state, plan);
    if (!state.persistent) lab.#registerExitCleanup();
    try {
      await lab.#build();
      if (options.server === true) state.serverAddress = await lab.#startServer();
      state.ready = true;
      writeState(state);
      return lab;
    } catch (error) {
      await lab.down();
      throw error;
    }
  }

  /** Opens a lab that is already up (from its state file), e.g. one started by `punchline lab up`. */
  static open(name: string): Lab {
    const state = readState(name);
    if (state === undefined) throw new LabError(LabErrorCode.NotFound, `no lab named '${name}' is up`);
    if (state.plan === undefined || !state.ready)
      throw new LabError(
        LabErrorCode.State,
        `lab '${name}' is not ready (still starting, or crashed: run 'punchline lab down ${name}')`,
      );
    return new Lab(state, state.plan);
  }

  /** States of every lab with a state file. */
  static list(): LabState[] {
    return listStates().flatMap((name) => {
      try {
        const state = readState(name);
        return state === undefined ? [] : [state];
      } catch {
        return [];
      }
    });
  }

  /** Removes labs whose owner died without taking them down (non-persistent only). Returns their names. */
  static async cleanupStale(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of listStates()) {
      let state: LabState | undefined;
      try {
        state = readState(name);
      } catch {
        continue;
      }
      if (state === undefined || state.persistent || isProcessAlive(state.ownerPid)) continue;
      await teardown(state);
      removed.push(name);
    }
    return removed;
  }

  /** Takes down the lab named `name` from its state file (any owner). */
  static async downByName(name: string): Promise<void> {
    const state = readState(name);
    if (state === undefined) throw new LabError(LabErrorCode.NotFound, `no lab named '${name}' is up`);
    await teardown(state);
  }

  /** Every node (namespace) of the lab. */
  nodes(): NodePlan[] {
    return allNodes(this.plan);
  }

  /** The node called `name` (`server1`, `a-host1`, `a-router`, `inet`, ...). */
  host(name: string): NodePlan {
    const node = this.nodes().find((n) => n.name === name);
    if (node === undefined) {
      throw new LabError(
        LabErrorCode.NotFound,
        `lab '${this.name}' has no host '${name}' (hosts: ${this.nodes()
          .map((n) => n.name)
          .join(', ')})`,
      );
    }
    return node;
  }

  site(name: string): SitePlan {
    const site = this.plan.sites.find((s) => s.name === name);
    if (site === undefined) throw new LabError(LabErrorCode.NotFound, `lab '${this.name}' has no site '${name}'`);
    return site;
  }

  /** Runs `argv` inside `host` to completion and returns its exit status and output. */
  run(host: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return runIn(host, this.host(host).ns, argv, options);
  }

  /** Starts `argv` inside `host`; the lab kills it on `down()`. */
  spawn(host: string, argv: readonly string[], options: Omit<RunOptions, 'timeoutMs'> = {}): HostProcess {
    const process_ = spawnIn(host, this.host(host).ns, argv, options);
    this.#processes.add(process_);
    void process_.exited.finally(() => this.#processes.delete(process_)).catch(() => undefined);
    return process_;
  }

  /** Runs one of our scripts (`.ts` via tsx, or `.js`) with this Node binary inside `host`. */
  runNode(host: string, script: string, args: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
    return this.run(host, nodeArgv(script, args), options);
  }

  spawnNode(
    host: string,
    script: string,
    args: readonly string[] = [],
    options: Omit<RunOptions, 'timeoutMs'> = {},
  ): HostProcess {
    return this.spawn(host, nodeArgv(script, args), options);
  }

  /** Removes every namespace, link, rule, process and file this lab made. Idempotent. */
  async down(): Promise<void> {
    if (this.#down) return;
    this.#down = true;
    liveLabs.delete(this);
    await Promise.all([...this.#processes].map((p) => p.kill('SIGKILL')));
    await teardown(this.#state);
  }

  #registerExitCleanup(): void {
    liveLabs.add(this);
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    const cleanupAll = (): void => {
      for (const lab of liveLabs) {
        lab.#down = true;
        teardownSync(lab.#state);
      }
      liveLabs.clear();
    };
    process.on('exit', cleanupAll);
    // A fatal signal skips 'exit' handlers. When nobody else handles it, clean up and re-raise it
    // so the process still dies by that signal; when the program handles it, 'exit' covers us.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const onSignal = (): void => {
        if (process.listenerCount(signal) > 1) return;
        cleanupAll();
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      };
      process.on(signal, onSignal);
    }
  }

  async #build(): Promise<void> {
    this.#state.namespaces.push(...planNamespaces(this.plan));
    writeState(this.#state);
    await buildNetwork(this.plan);
    await Promise.all(
      this.plan.sites.filter((site) => site.profile === 'portmap').map((site) => this.#startPortmap(site)),
    );
  }

  async #startPortmap(site: SitePlan): Promise<void> {
    const server = this.plan.servers[0];
    if (server === undefined) throw new LabError(LabErrorCode.Spec, 'the portmap profile needs server1');
    this.#portmapStun ??= this.#startPortmapStun(server);
    await this.#portmapStun;
    await loadRuleset(site.router.ns, miniupnpdRuleset(site.options.portmapProtocols));
    const dir = join(this.#scratch(), site.router.name);
    mkdirSync(dir, { mode: 0o700 });
    const stun = { host: server.addresses[0] ?? '', port: PORTMAP_STUN_PORTS[0] };
    await startMiniupnpd(site.router, stun, dir, this.#state.persistent, site.options.portmapProtocols);
  }

  /**
   * `punchline server` on server1 with both its addresses (RFC 5780 alternate), as a daemon (its own
   * session for a persistent lab) logging to the scratch directory; resolves with its address string
   * once it has written it.
   */
  async #startServer(): Promise<string> {
    const server = this.plan.servers[0];
    if (server === undefined) throw new LabError(LabErrorCode.Spec, 'the rendezvous server needs server1');
    const dir = join(this.#scratch(), 'punchline-server');
    mkdirSync(dir, { mode: 0o700 });
    const addressFile = join(dir, 'address');
    const { script, args } = labServerCommand(server.addresses, dir, addressFile);
    spawnDaemon(server.ns, nodeArgv(script, args), join(dir, 'server.log'), this.#state.persistent);
    try {
      await waitForLog(addressFile, /^punchline:\/\//m, 30_000, `punchline server on ${server.name}`);
    } catch (error) {
      let log = '';
      try {
        log = readFileSync(join(dir, 'server.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
      } catch {
        // no log yet
      }
      throw new LabError(
        LabErrorCode.Process,
        `punchline server on ${server.name} did not start (ports ${LAB_SERVER_PORTS.udp}/${LAB_SERVER_PORTS.webTransport}): ${log || (error as Error).message}`,
        { cause: error },
      );
    }
    return readFileSync(addressFile, 'utf8').trim();
  }

  /** One STUN server (RFC 5780) on server1 for every portmap router's miniupnpd check. */
  async #startPortmapStun(server: NodePlan): Promise<void> {
    const { script, args } = stunServerCommand(server.addresses);
    const logFile = join(this.#scratch(), 'stun-server.log');
    spawnDaemon(server.ns, nodeArgv(script, args), logFile, this.#state.persistent);
    await waitForLog(logFile, /^STUN server/m, 30_000, `the lab's STUN server on ${server.name}`);
  }

  /**
   * The lab's scratch directory (daemon configs, leases and logs), recorded in the state file before
   * anything is written to it so that teardown — even after a crash — removes it.
   */
  #scratch(): string {
    if (this.#scratchDir === undefined) {
      this.#scratchDir = mkdtempSync(join(tmpdir(), `punchline-lab-${this.prefix}-`));
      this.#state.dirs.push(this.#scratchDir);
      writeState(this.#state);
    }
    return this.#scratchDir;
  }
}

/** A `pl<4 hex>` prefix no existing namespace or lab uses. */
async function freePrefix(): Promise<string> {
  const used = new Set<string>([
    ...(await listNamespaces()).map((ns) => ns.split('-')[0] ?? ''),
    ...Lab.list().map((s) => s.prefix),
  ]);
  for (let i = 0; i < 100; i++) {
    const prefix = `pl${randomBytes(2).toString('hex')}`;
    if (!used.has(prefix)) return prefix;
  }
  throw new LabError(LabErrorCode.State, 'no free lab prefix');
}

/**
 * Kills every process inside the lab's namespaces (only those: daemons and `lab run` programs all
 * live there), deletes the namespaces — which destroys their veths, bridges, routes, qdiscs and
 * nftables rulesets — then the scratch directories and the state file.
 */
async function teardown(state: LabState): Promise<void> {
  const existing = new Set(await listNamespaces());
  const mine = state.namespaces.filter((ns) => existing.has(ns));
  // Hosts first, then routers, the internet last (reverse creation order); in parallel per pass.
  await Promise.all([...mine].reverse().map((ns) => deleteNamespace(ns)));
  for (const dir of state.dirs) rmSync(dir, { recursive: true, force: true });
  removeState(state.name);
}

function teardownSync(state: LabState): void {
  for (const ns of [...state.namespaces].reverse()) deleteNamespaceSync(ns);
  for (const dir of state.dirs) rmSync(dir, { recursive: true, force: true });
  removeState(state.name);
}
