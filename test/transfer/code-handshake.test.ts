/** Code phrases and the three-message code handshake (spec/transfer.md §Code phrase, §Handshake). */
import { describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/crypto/sodium.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { generateCode, parseCode } from '../../src/crypto/pake/code-phrase.js';
import { ReceiverHandshake, SenderHandshake } from '../../src/crypto/pake/code-handshake.js';
import { PakeErrorCode } from '../../src/crypto/pake/errors.js';
import { CODE_WORDS } from '../../src/crypto/pake/wordlist.js';
import { Packr } from 'msgpackr';

const payload = new TextEncoder().encode('{"host":"192.0.2.1","port":4000}');

describe('code phrases', () => {
  it('generates and parses number-word-word[-word]', () => {
    const code = generateCode(7, 2, systemRandom);
    expect(code.text).toMatch(/^7-[a-z]+-[a-z]+$/);
    expect(parseCode(`  ${code.text.toUpperCase().replace(/-/g, ' ')} `)).toEqual(code);
    expect(parseCode(generateCode(123, 3, systemRandom).text).words).toHaveLength(3);
    expect(new Set(CODE_WORDS).size).toBe(1295);
  });

  it.each(['', 'acid-acorn', '0-acid-acorn', '7-acid', '7-acid-acorn-acre-acts', '7-acid-xyzzy', '07-acid-acorn'])(
    'refuses %j',
    (text) => {
      expect(() => parseCode(text)).toThrowError(expect.objectContaining({ code: PakeErrorCode.BadCode }));
    },
  );
});

function run(senderCode: string, receiverCode: string) {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const sender = new SenderHandshake(parseCode(senderCode), a.publicKey, systemRandom);
  const receiver = new ReceiverHandshake(parseCode(receiverCode), b.publicKey, systemRandom);
  return { a, b, sender, receiver };
}

describe('code handshake', () => {
  it('the same code gives both sides the same psk, the peer keys and the payload', () => {
    const { a, b, sender, receiver } = run('7-acid-acorn', '7-acid-acorn');
    const reply = receiver.receive(sender.start());
    const s = sender.receive(reply);
    const confirm = sender.confirm(payload);
    const r = receiver.finish(confirm);
    expect(Buffer.from(s.psk).equals(Buffer.from(r.psk))).toBe(true);
    expect(Buffer.from(s.peerPublicKey).equals(Buffer.from(b.publicKey))).toBe(true);
    expect(Buffer.from(r.peerPublicKey).equals(Buffer.from(a.publicKey))).toBe(true);
    expect(Buffer.from(r.payload!).toString()).toBe(Buffer.from(payload).toString());
  });

  it('a wrong code fails on the sender with WRONG_CODE, and the abort tells the receiver', () => {
    const { sender, receiver } = run('7-acid-acorn', '7-acid-acre');
    const reply = receiver.receive(sender.start());
    expect(() => sender.receive(reply)).toThrowError(expect.objectContaining({ code: PakeErrorCode.WrongCode }));
    expect(() => receiver.finish(SenderHandshake.abortMessage())).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.WrongCode }),
    );
  });

  it('a server that swaps a static key in transit breaks the confirmation', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    const { sender, receiver } = run('7-acid-acorn', '7-acid-acorn');
    const start = packr.unpack(sender.start()) as Record<string, unknown>;
    const evil = generateKeyPair().publicKey;
    const reply = receiver.receive(packr.pack({ ...start, pk: evil }));
    expect(() => sender.receive(reply)).toThrowError(expect.objectContaining({ code: PakeErrorCode.WrongCode }));

    const second = run('7-acid-acorn', '7-acid-acorn');
    const reply2 = packr.unpack(second.receiver.receive(second.sender.start())) as Record<string, unknown>;
    expect(() => second.sender.receive(packr.pack({ ...reply2, pk: evil }))).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.WrongCode }),
    );
  });

  it('malformed messages are typed protocol errors', () => {
    const { sender, receiver } = run('7-acid-acorn', '7-acid-acorn');
    expect(() => receiver.receive(new Uint8Array([0xc1]))).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.Protocol }),
    );
    expect(() => receiver.finish(sender.start())).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.Protocol }),
    );
    expect(() => sender.receive(sender.start())).toThrowError(
      expect.objectContaining({ code: PakeErrorCode.Protocol }),
    );
  });
});
