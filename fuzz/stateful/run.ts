/**
 * `npm run fuzz:stateful`: every hostile-peer scenario (fuzz/stateful/hostile-peer.ts) over many
 * seeds; prints per scenario the runs, packets and frames sent, close codes seen, the largest heap
 * growth, and failures (an escaped exception, a wrong close code, a legitimate connection broken);
 * then the traversal agent against a hostile peer and rendezvous (hostile-agent-peer.ts): datagrams
 * delivered (packets column) and sent by the agent (frames column), and broken invariants.
 *
 *   npm run fuzz:stateful -- [--seeds 50] [--packets 300]
 */
import { parseArgs } from 'node:util';
import { EXPECTED_CODE, runScenario, SCENARIOS } from './hostile-peer.js';
import { runAgentScenario } from './hostile-agent-peer.js';

const { values } = parseArgs({
  options: { seeds: { type: 'string', default: '50' }, packets: { type: 'string', default: '300' } },
});
const seeds = Number(values.seeds);
const packets = Number(values.packets);
let failures = 0;
console.log('scenario                  runs  packets   frames  close codes        max heap growth  failures');
for (const scenario of SCENARIOS) {
  let frames = 0;
  let maxHeap = 0;
  let bad = 0;
  const codes = new Map<string, number>();
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runScenario(scenario, seed, packets);
    frames += r.frames;
    maxHeap = Math.max(maxHeap, r.heapGrowthBytes);
    const code = r.closeCode === null ? 'open' : `0x${r.closeCode.toString(16)}`;
    codes.set(code, (codes.get(code) ?? 0) + 1);
    const expected = EXPECTED_CODE[scenario];
    const wrongCode = expected !== undefined && !expected.includes(r.closeCode ?? -1);
    if (r.escaped !== null || wrongCode || !r.legitDelivered) {
      bad++;
      console.error(
        `FAIL ${scenario} seed ${seed}: ${r.escaped ?? (wrongCode ? `close code ${code}` : 'legitimate connection broken')}`,
      );
    }
  }
  failures += bad;
  const codeText = [...codes].map(([c, n]) => `${c}×${n}`).join(' ');
  console.log(
    `${scenario.padEnd(24)}  ${String(seeds).padStart(4)}  ${String(seeds * packets).padStart(7)}  ${String(frames).padStart(7)}  ${codeText.padEnd(17)}  ${(maxHeap / 1024).toFixed(0).padStart(11)} KiB  ${String(bad).padStart(8)}`,
  );
  console.log(
    JSON.stringify({
      bench: 'fuzz-stateful',
      scenario,
      runs: seeds,
      packets: seeds * packets,
      frames,
      codes: Object.fromEntries(codes),
      maxHeapGrowthBytes: maxHeap,
      failures: bad,
    }),
  );
}

// The traversal agent against a hostile peer and rendezvous (hostile-agent-peer.ts).
{
  let sent = 0;
  let delivered = 0;
  let refused = 0;
  let maxHeap = 0;
  let bad = 0;
  const steps = packets * 2;
  for (let seed = 1; seed <= seeds * 4; seed++) {
    const r = runAgentScenario(seed, steps);
    sent += r.sent;
    delivered += r.delivered;
    if (r.refused) refused++;
    maxHeap = Math.max(maxHeap, r.heapGrowthBytes);
    if (r.failure !== null) {
      bad++;
      console.error(`FAIL traversal-agent seed ${seed}: ${r.failure}`);
    }
  }
  failures += bad;
  console.log(
    `${'traversal-agent'.padEnd(24)}  ${String(seeds * 4).padStart(4)}  ${String(delivered).padStart(7)}  ${String(sent).padStart(7)}  ${`refused×${refused}`.padEnd(17)}  ${(maxHeap / 1024).toFixed(0).padStart(11)} KiB  ${String(bad).padStart(8)}`,
  );
  console.log(
    JSON.stringify({
      bench: 'fuzz-stateful',
      scenario: 'traversal-agent',
      runs: seeds * 4,
      delivered,
      sent,
      refused,
      maxHeapGrowthBytes: maxHeap,
      failures: bad,
    }),
  );
}
process.exitCode = failures > 0 ? 1 : 0;
