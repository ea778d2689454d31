/**
 * Regenerates spec/vectors/wire-frames.json, spec/vectors/wire-packets.json and the Examples section
 * of spec/wire.md from examples.ts. Run after a deliberate wire change and commit the output:
 *
 *   npx tsx test/wire/generate-vectors.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildFrameVectors, buildPacketVectors } from './examples.js';
import { EXAMPLES_BEGIN, EXAMPLES_END, renderExamples } from './render-examples.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const frames = buildFrameVectors();
const packets = buildPacketVectors();
writeFileSync(`${root}spec/vectors/wire-frames.json`, JSON.stringify(frames, null, 2) + '\n');
writeFileSync(`${root}spec/vectors/wire-packets.json`, JSON.stringify(packets, null, 2) + '\n');

const specPath = `${root}spec/wire.md`;
const spec = readFileSync(specPath, 'utf8');
const begin = spec.indexOf(EXAMPLES_BEGIN);
const end = spec.indexOf(EXAMPLES_END);
if (begin < 0 || end < begin) throw new Error('spec/wire.md lacks the generated-examples markers');
writeFileSync(specPath, spec.slice(0, begin) + renderExamples(frames, packets) + spec.slice(end + EXAMPLES_END.length));
process.stdout.write('wrote spec/vectors/wire-frames.json, spec/vectors/wire-packets.json, spec/wire.md §Examples\n');
