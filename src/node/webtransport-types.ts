/**
 * The parts of @fails-components/webtransport (W3C WebTransport API shapes) that punchline uses,
 * typed here once for the rendezvous client and the server (the package ships no declarations).
 */
export interface WtWriter {
  readonly desiredSize: number | null;
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
  releaseLock(): void;
}

export interface WtReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

export interface WtBidi {
  readonly readable: { getReader(): WtReader };
  readonly writable: { getWriter(): WtWriter };
}

/** A session as the client sees it (`new WebTransport(url, init)`). */
export interface WtClient {
  readonly ready: Promise<void>;
  readonly closed: Promise<unknown>;
  createBidirectionalStream(): Promise<WtBidi>;
  close(info?: { closeCode?: number; reason?: string }): void;
}

/** A session as the server sees it (from `sessionStream(path)`). */
export interface WtSession {
  readonly ready: Promise<void>;
  readonly closed: Promise<unknown>;
  readonly incomingBidirectionalStreams: { getReader(): { read(): Promise<{ done: boolean; value?: WtBidi }> } };
  readonly peerAddress?: string;
  close(info?: { closeCode?: number; reason?: string }): void;
}
