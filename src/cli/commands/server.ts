/** `punchline server`: STUN + rendezvous + relay in one process (spec/rendezvous.md, spec/relay.md). */
import { rename, writeFile } from 'node:fs/promises';
import { PunchlineError } from '../../errors.js';
import { readConfigFile, resolveConfig, envName } from '../../server/config.js';
import { ServerError, ServerErrorCode } from '../../server/errors.js';
import { createJsonLogger } from '../../server/log.js';
import { PunchlineServer } from '../../server/server.js';
import { parseCommandLine } from '../args.js';

export const summary = 'run the rendezvous + relay + STUN server (WebTransport over HTTP/2, UDP relay)';

const HELP = `usage: punchline server [options]

One process: STUN and the UDP relay on --udp-port; WebTransport (HTTP/2 and its WebSocket
mapping; HTTP/3 when the optional native add-on is installed) on --port for rendezvous and the
stream relay; Prometheus /metrics and /healthz on --metrics-port. On first start it creates the
server key and a self-signed certificate in the data directory; the certificate is renewed in the
running process before it expires.

It prints ONE server address string, punchline://KEY@HOST:UDPPORT?wt=PORT[&alt=HOST:PORT]: give
it to clients (--server ADDR or PUNCHLINE_SERVER). It names the server by its static key, so it
stays valid across certificate renewals and restarts with the same data directory.

options (flag > environment > config file > default):
  --host IP            listen address for UDP and TLS   ${envName('host')}        (127.0.0.1)
  --udp-port N         STUN + UDP relay port            ${envName('udpPort')}    (3478)
  --port N             WebTransport TLS port            ${envName('port')}        (4433)
  --metrics-host IP    metrics/health listen address    ${envName('metricsHost')} (127.0.0.1)
  --metrics-port N|off metrics/health port              ${envName('metricsPort')} (9464)
  --public-host IP     host written into the address    ${envName('publicHost')} (the listen address)
  --alt-host IP        second IP for RFC 5780 discovery ${envName('altHost')}
  --alt-port N         its port (0 picks one)           ${envName('altPort')}    (0)
  --address-file FILE  write the address string there   ${envName('addressFile')}
  --cert FILE          PEM certificate (with --key)     ${envName('cert')}
  --key FILE           PEM private key                  ${envName('key')}
  --data-dir DIR       server key, generated cert       ${envName('dataDir')}    (~/.punchline/server)
  --config FILE        JSON file with the keys above in camelCase, plus "limits" and "relayLimits"
  --log-level LEVEL    debug|info|warn|error            ${envName('logLevel')}   (info)
  --no-stun            do not answer STUN on the UDP port
  -h, --help           this help

Logs are JSON lines on stdout. SIGINT/SIGTERM shut down gracefully (a second signal exits at once).
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('server', HELP, {
    args: argv,
    options: {
      host: { type: 'string' },
      'udp-port': { type: 'string' },
      port: { type: 'string' },
      'metrics-host': { type: 'string' },
      'metrics-port': { type: 'string' },
      'public-host': { type: 'string' },
      'alt-host': { type: 'string' },
      'alt-port': { type: 'string' },
      'address-file': { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      'no-stun': { type: 'boolean' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  // Signal handlers go in before the server logs or prints anything: whoever reads its first line
  // may signal at once. A signal during start-up stops the server as soon as it is up.
  let server: PunchlineServer | null = null;
  let stopping = false;
  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));
  const shutdown = (): void => {
    server?.close().then(
      () => resolveStopped(0),
      () => resolveStopped(1),
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`punchline server: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    shutdown();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const configPath = values.config ?? process.env[envName('config')];
    const config = resolveConfig({
      flags: strip({
        host: values.host,
        udpPort: values['udp-port'],
        port: values.port,
        metricsHost: values['metrics-host'],
        metricsPort: values['metrics-port'],
        publicHost: values['public-host'],
        altHost: values['alt-host'],
        altPort: values['alt-port'],
        addressFile: values['address-file'],
        cert: values.cert,
        key: values.key,
        dataDir: values['data-dir'],
        logLevel: values['log-level'],
        stun: values['no-stun'] ? false : undefined,
      }),
      env: process.env,
      file: configPath ? await readConfigFile(configPath) : {},
    });
    const logger = createJsonLogger({ level: config.logLevel });
    server = await PunchlineServer.start({
      host: config.host,
      udpPort: config.udpPort,
      port: config.port,
      metricsHost: config.metricsHost,
      metricsPort: config.metricsPort,
      dataDir: config.dataDir,
      ...(config.publicHost ? { publicHost: config.publicHost } : {}),
      ...(config.alternate ? { alternate: config.alternate } : {}),
      ...(config.cert && config.key ? { tls: { certFile: config.cert, keyFile: config.key } } : {}),
      stun: config.stun,
      limits: config.limits,
      relayLimits: config.relayLimits,
      logger,
    });
    if (config.addressFile) await writeAddressFile(config.addressFile, server.info.address);
  } catch (error) {
    await server?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (error instanceof PunchlineError) {
      process.stderr.write(`punchline server: ${error.message} (${error.code})\n`);
      return 1;
    }
    throw error;
  }
  if (stopping) shutdown(); // a signal arrived while starting
  const info = server.info;
  process.stderr.write(
    [
      `punchline server ready; clients use --server or PUNCHLINE_SERVER with:`,
      ``,
      `  ${info.address}`,
      ``,
      `  rendezvous URL         ${info.url}${info.http3 ? ' (HTTP/3 + HTTP/2)' : ' (HTTP/2 + WebSocket)'}`,
      `  UDP (STUN + relay)     ${info.udp.host}:${info.udp.port}`,
      info.alternate
        ? `  RFC 5780 alternate     ${info.alternate.host}:${info.alternate.port} (STUN)`
        : '  RFC 5780 alternate     none (--alt-host)',
      `  server public key      ${info.publicKeyText}`,
      `  certificate SHA-256    ${Buffer.from(info.certificateSha256).toString('hex')} (${info.certificateSelfSigned ? 'self-signed, renewed automatically; this one' : 'operator-provided'} until ${info.certificateNotAfter.toISOString()}; clients need not pin it)`,
      info.metrics
        ? `  metrics                http://${info.metrics.host}:${info.metrics.port}/metrics`
        : '  metrics                off',
      '',
    ].join('\n'),
  );
  return stopped;
}

/** Writes the address string atomically (a reader never sees half a line). */
async function writeAddressFile(path: string, address: string): Promise<void> {
  try {
    await writeFile(`${path}.tmp`, `${address}\n`, { mode: 0o644 });
    await rename(`${path}.tmp`, path);
  } catch (cause) {
    throw new ServerError(
      ServerErrorCode.Config,
      `cannot write the address file ${path}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

function strip<T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
