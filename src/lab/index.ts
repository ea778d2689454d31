/** punchline/lab: real netfilter NATs in network namespaces. See spec/lab.md. */
export { Lab, type UpOptions } from './lab.js';
export { LabError, LabCommandError, LabErrorCode } from './errors.js';
export { labAvailability, type Availability } from './availability.js';
export { HostProcess, nodeArgv, runInteractive, type RunOptions, type RunResult } from './host-process.js';
export {
  PROFILES,
  parseSiteArg,
  planLab,
  validateSpec,
  type LabPlan,
  type LabSpec,
  type NatKind,
  type NatProfile,
  type NodePlan,
  type SiteOptions,
  type SitePlan,
  type SiteSpec,
} from './topology.js';
export {
  compareBehaviour,
  expectedBehaviour,
  measureBehaviour,
  probe,
  probeEndpoints,
  measureHairpin,
  measureSelfHairpin,
  selfCheck,
  startProbeServer,
  type ExpectedBehaviour,
  type HairpinResult,
  type SiteCheck,
} from './nat-check.js';
export type { BehaviourReport, FilteringBehaviour, MappingBehaviour } from './probes/protocol.js';
export { NAT_PMP_PORT } from './portmap.js';
