/** The simulator (src/sim, shipped as punchline/sim) plus the fast-check arbitraries the tests use. */
export * from '../../src/sim/index.js';
export { impairedLink, simSeed } from './arbitraries.js';
