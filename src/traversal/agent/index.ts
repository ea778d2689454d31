/** The traversal agent (spec/traversal.md): candidates, pairs, checks, strategy, birthday search. */
export * from './agent.js';
export * from './birthday.js';
export * from './candidates.js';
export * from './checks.js';
export * from './errors.js';
export * from './limits.js';
export * from './nat-behaviour.js';
export * from './offer.js';
export * from './pairs.js';
export * from './probe-auth.js';
export * from './strategy.js';
