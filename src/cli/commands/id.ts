/** `punchline id`: print this peer's public key (its name) in z-base-32. */
import { defaultIdentityPath, loadIdentity } from '../../crypto/identity.js';
import { encodePublicKey } from '../../crypto/key-text.js';
import { parseCommandLine } from '../args.js';

export const summary = "print this peer's public key (z-base-32)";

const HELP = `usage: punchline id [--key FILE]

Prints the public key of the identity in FILE, in z-base-32 (52 characters, case-insensitive).
Warns if the file is readable by others.

options:
  --key FILE   identity file (default: $PUNCHLINE_HOME/identity or ~/.punchline/identity)
  -h, --help   this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine('id', HELP, {
    args: argv,
    options: {
      key: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const keyPair = await loadIdentity(values.key ?? defaultIdentityPath(), {
    onWarning: (w) => process.stderr.write(`punchline id: warning: ${w.message}\n`),
  });
  process.stdout.write(`${encodePublicKey(keyPair.publicKey)}\n`);
  return 0;
}
