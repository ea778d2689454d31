/** `punchline keygen`: create this peer's long-term identity (static X25519 key pair). */
import { defaultIdentityPath, generateIdentity, saveIdentity } from '../../crypto/identity.js';
import { encodePublicKey } from '../../crypto/key-text.js';
import { parseCommandLine } from '../args.js';

export const summary = 'generate an identity key pair (X25519) and print its public key';

const HELP = `usage: punchline keygen [--out FILE] [--force]

Generates a static X25519 key pair, writes it to FILE (mode 0600; the directory is created 0700)
and prints the public key in z-base-32 — the name other peers dial.

options:
  --out FILE   where to write (default: $PUNCHLINE_HOME/identity or ~/.punchline/identity)
  --force      replace an existing identity (the old one is lost)
  -h, --help   this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('keygen', HELP, {
    args: argv,
    options: {
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const path = values.out ?? defaultIdentityPath();
  const keyPair = generateIdentity();
  await saveIdentity(path, keyPair, { overwrite: values.force });
  process.stderr.write(`wrote identity to ${path}\n`);
  process.stdout.write(`${encodePublicKey(keyPair.publicKey)}\n`);
  return 0;
}
