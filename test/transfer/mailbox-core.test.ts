/** Mailboxes by nameplate (spec/transfer.md §Mailbox), sans-IO. */
import { describe, expect, it } from 'vitest';
import { MailboxCore, type MailboxOutput } from '../../src/server/mailbox-core.js';
import { RendezvousErrorCode } from '../../src/traversal/rendezvous/errors.js';

let counter = 0;
const random = (buffer: Uint8Array): void => {
  for (let i = 0; i < buffer.length; i++) buffer[i] = (counter++ * 37) & 0xff;
};

function drain(core: MailboxCore): MailboxOutput[] {
  const out: MailboxOutput[] = [];
  for (let o = core.pollOutput(); o !== null; o = core.pollOutput()) out.push(o);
  return out;
}

const data = (text: string): Uint8Array => new TextEncoder().encode(text);

function opened(core: MailboxCore, session: number, id: number, nameplate: number, now = 0): number {
  core.receive(session, { t: 'mailbox-open', id, nameplate }, now);
  const [reply] = drain(core);
  expect(reply?.message.t).toBe('mailbox-opened');
  return (reply!.message as { nameplate: number }).nameplate;
}

describe('MailboxCore', () => {
  it('allocates a short nameplate, queues for the absent side and delivers both ways', () => {
    const core = new MailboxCore({ random });
    const nameplate = opened(core, 1, 7, 0);
    expect(nameplate).toBeGreaterThan(0);
    expect(nameplate).toBeLessThanOrEqual(100);
    core.receive(1, { t: 'mailbox-put', nameplate, data: data('hello') }, 1);
    expect(drain(core)).toEqual([]);
    core.receive(2, { t: 'mailbox-open', id: 3, nameplate }, 2);
    const out = drain(core);
    expect(out.map((o) => [o.sessionId, o.message.t])).toEqual([
      [2, 'mailbox-opened'],
      [2, 'mailbox-message'],
    ]);
    core.receive(2, { t: 'mailbox-put', nameplate, data: data('back') }, 3);
    expect(drain(core)).toEqual([
      { sessionId: 1, message: { t: 'mailbox-message', seq: 0, nameplate, data: data('back') } },
    ]);
  });

  it('a third claim burns the mailbox for everyone', () => {
    const core = new MailboxCore({ random });
    const nameplate = opened(core, 1, 1, 0);
    opened(core, 2, 1, nameplate);
    core.receive(3, { t: 'mailbox-open', id: 9, nameplate }, 0);
    const out = drain(core);
    expect(out[0]).toMatchObject({
      sessionId: 3,
      message: { t: 'error', id: 9, code: RendezvousErrorCode.NameplateUsed },
    });
    expect(out.slice(1).map((o) => [o.sessionId, o.message.t, (o.message as { reason: string }).reason])).toEqual([
      [1, 'mailbox-closed', 'crowded'],
      [2, 'mailbox-closed', 'crowded'],
    ]);
    core.receive(4, { t: 'mailbox-open', id: 1, nameplate }, 0);
    expect(drain(core)[0]).toMatchObject({ message: { code: RendezvousErrorCode.NameplateUnknown } });
  });

  it('close and session end burn it; the other side is told', () => {
    const core = new MailboxCore({ random });
    const a = opened(core, 1, 1, 0);
    opened(core, 2, 1, a);
    core.receive(2, { t: 'mailbox-close', nameplate: a }, 0);
    expect(drain(core)).toEqual([
      { sessionId: 1, message: { t: 'mailbox-closed', seq: 0, nameplate: a, reason: 'peer-closed' } },
    ]);
    const b = opened(core, 1, 2, 0);
    opened(core, 2, 2, b);
    core.closeSession(1);
    expect(drain(core)).toEqual([
      { sessionId: 2, message: { t: 'mailbox-closed', seq: 0, nameplate: b, reason: 'peer-gone' } },
    ]);
    expect(core.size).toBe(0);
  });

  it('nameplates expire, and limits hold', () => {
    const core = new MailboxCore({ random, limits: { openTtlMs: 1000, maxPerSession: 2, maxQueued: 1 } });
    const a = opened(core, 1, 1, 0, 0);
    opened(core, 1, 2, 0, 0);
    core.receive(1, { t: 'mailbox-open', id: 3, nameplate: 0 }, 0);
    expect(drain(core)[0]).toMatchObject({ message: { t: 'error', code: RendezvousErrorCode.Quota } });
    core.receive(1, { t: 'mailbox-put', nameplate: a, data: data('1') }, 0);
    core.receive(1, { t: 'mailbox-put', nameplate: a, data: data('2') }, 0);
    expect(drain(core)[0]).toMatchObject({ message: { t: 'error', code: RendezvousErrorCode.Quota } });
    core.receive(5, { t: 'mailbox-put', nameplate: a, data: data('x') }, 0);
    expect(drain(core)[0]).toMatchObject({ message: { code: RendezvousErrorCode.NameplateUnknown } });
    expect(core.nextDeadline()).toBeLessThan(Infinity);
    core.onTimeout(1500);
    expect(drain(core).map((o) => (o.message as { reason: string }).reason)).toEqual(['expired', 'expired']);
    expect(core.nextDeadline()).toBe(Infinity);
  });
});
