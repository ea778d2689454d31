/**
 * One JSON state file per lab, written *before* anything is created and updated as resources are
 * added, so that `down`, `lab down --all` and Lab.cleanupStale() know exactly what the lab made —
 * and remove nothing else. Directory: /run/punchline-lab when writable (root), else
 * $TMPDIR/punchline-lab. PUNCHLINE_LAB_STATE_DIR overrides it (tests).
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError, LabErrorCode } from './errors.js';
import type { LabPlan } from './topology.js';

export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly prefix: string;
  readonly createdAt: string;
  /** Process that brought the lab up; a non-persistent lab whose owner died is stale. */
  readonly ownerPid: number;
  /** Kept after its owner exits (labs made by `punchline lab up`). */
  readonly persistent: boolean;
  /** Namespaces in creation order; recorded before each is created. */
  namespaces: string[];
  /** Scratch directories (miniupnpd configs and leases), removed on teardown. */
  dirs: string[];
  /** Set once every namespace is configured. */
  plan?: LabPlan;
  ready: boolean;
  /** The address string of the lab's `punchline server` on server1, when it was started with one. */
  serverAddress?: string;
}

function stateDir(): string {
  const override = process.env['PUNCHLINE_LAB_STATE_DIR'];
  if (override !== undefined && override !== '') return ensureDir(override);
  try {
    return ensureDir('/run/punchline-lab');
  } catch {
    return ensureDir(join(tmpdir(), 'punchline-lab'));
  }
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function statePath(name: string): string {
  return join(stateDir(), `${name}.json`);
}

/** Creates the state file of a new lab; false when one with that name exists (another `up` won). */
export function createState(state: LabState): boolean {
  try {
    writeFileSync(statePath(state.name), JSON.stringify(state, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Atomically writes the state file (write + rename). */
export function writeState(state: LabState): void {
  const path = statePath(state.name);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export function readState(name: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(name), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as LabState;
    if (state.version !== 1 || state.name !== name || !Array.isArray(state.namespaces)) throw new Error('bad shape');
    return state;
  } catch (error) {
    throw new LabError(LabErrorCode.State, `state file ${statePath(name)} is unreadable`, { cause: error });
  }
}

export function removeState(name: string): void {
  rmSync(statePath(name), { force: true });
}

/** Names of every lab that has a state file. */
export function listStates(): string[] {
  return readdirSync(stateDir())
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length));
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
