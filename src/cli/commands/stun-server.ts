/** `punchline stun-server`: a STUN server, with RFC 5780 behaviour discovery when given two addresses. */
import { PunchlineError } from '../../errors.js';
import { StunServer } from '../../server/stun-server.js';
import { formatAddress } from '../../traversal/stun/index.js';
import { parseCommandLine } from '../args.js';

export const summary = 'run a STUN server (RFC 8489; RFC 5780 discovery with --alt-host/--alt-port)';

const HELP = `usage: punchline stun-server --host H --port P [--alt-host H2 --alt-port P2] [options]

Answers STUN Binding requests. With an alternate IP and port it binds four sockets
(H:P, H:P2, H2:P, H2:P2) and serves RFC 5780 NAT behaviour discovery (CHANGE-REQUEST,
RESPONSE-ORIGIN, OTHER-ADDRESS); without them CHANGE-REQUEST is refused (420).

options:
  --host H          primary IP to listen on (default 0.0.0.0)
  --port P          primary port (default 3478; 0 picks one)
  --alt-host H2     alternate IP (a second address of this host)
  --alt-port P2     alternate port
  --software TEXT   SOFTWARE attribute to send (default "punchline")
  --rate N          requests per second allowed per source IP (default 20)
  --burst N         burst per source IP (default 40)
  -h, --help        this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('stun-server', HELP, {
    args: argv,
    options: {
      host: { type: 'string', default: '0.0.0.0' },
      port: { type: 'string', default: '3478' },
      'alt-host': { type: 'string' },
      'alt-port': { type: 'string' },
      software: { type: 'string', default: 'punchline' },
      rate: { type: 'string', default: '20' },
      burst: { type: 'string', default: '40' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const port = parseNumber(values.port, 'port', 0, 65535);
  const rate = parseNumber(values.rate, 'rate', 1, 1e6);
  const burst = parseNumber(values.burst, 'burst', 1, 1e6);
  const altPort = values['alt-port'] === undefined ? undefined : parseNumber(values['alt-port'], 'alt-port', 0, 65535);
  if (port === null || rate === null || burst === null || altPort === null) return 2;
  if ((values['alt-host'] === undefined) !== (altPort === undefined)) {
    process.stderr.write('punchline stun-server: --alt-host and --alt-port go together\n');
    return 2;
  }
  let server: StunServer;
  try {
    server = new StunServer({
      host: values.host,
      port,
      software: values.software,
      rateLimit: { ratePerSecond: rate, burst },
      ...(values['alt-host'] !== undefined && altPort !== undefined ? { altHost: values['alt-host'], altPort } : {}),
    });
    await server.listen();
  } catch (error) {
    if (error instanceof PunchlineError) {
      process.stderr.write(`punchline stun-server: ${error.message} (${error.code})\n`);
      return 1;
    }
    throw error;
  }
  const { primary, alternate } = server.addresses;
  process.stdout.write(
    alternate
      ? `STUN server with RFC 5780 behaviour discovery on ${formatAddress(primary)}, ${formatAddress({ host: primary.host, port: alternate.port })}, ${formatAddress({ host: alternate.host, port: primary.port })}, ${formatAddress(alternate)}\n`
      : `STUN server on ${formatAddress(primary)}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  process.stdout.write(`${JSON.stringify(server.counters)}\n`);
  return 0;
}

function parseNumber(text: string, name: string, min: number, max: number): number | null {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    process.stderr.write(`punchline stun-server: --${name} must be an integer in ${min}..${max}, got '${text}'\n`);
    return null;
  }
  return n;
}
