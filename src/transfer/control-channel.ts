/** The control stream as a message queue (spec/transfer.md §Streams): send() and await next(). */
import type { Duplex } from 'node:stream';
import { TransferError, TransferErrorCode } from './errors.js';
import { ControlDecoder, encodeControl, type ControlMessage } from './wire.js';

export class ControlChannel {
  private readonly decoder = new ControlDecoder();
  private readonly queue: ControlMessage[] = [];
  private waiter: { resolve: (m: ControlMessage) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(private readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      let messages: ControlMessage[];
      try {
        messages = this.decoder.push(chunk);
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      for (const message of messages) this.deliver(message);
    });
    stream.on('end', () => this.fail(new TransferError(TransferErrorCode.Aborted, 'the peer closed the transfer')));
    stream.on('error', (error) =>
      this.fail(new TransferError(TransferErrorCode.Aborted, `connection lost: ${error.message}`, { cause: error })),
    );
  }

  send(message: ControlMessage): void {
    if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.write(encodeControl(message));
  }

  /** The next message; a peer `error` message rejects with ABORTED carrying the peer's words. */
  next(): Promise<ControlMessage> {
    const message = this.queue.shift();
    if (message) return Promise.resolve(message);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Sends our error to the peer (best effort) and ends the stream. */
  abort(error: Error): void {
    const code = error instanceof TransferError ? error.code : TransferErrorCode.Aborted;
    this.send({ t: 'error', code, message: error.message });
    this.end();
  }

  end(): void {
    if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
  }

  private deliver(message: ControlMessage): void {
    if (message.t === 'error') {
      this.fail(new TransferError(TransferErrorCode.Aborted, `the other side stopped: ${message.message}`));
      return;
    }
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(message);
    } else this.queue.push(message);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    if (this.waiter) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(error);
    }
  }
}
