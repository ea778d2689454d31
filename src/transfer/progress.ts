/** Progress and the end-of-transfer summary, shared by both sides and the CLI. */
export interface TransferProgress {
  /** Bytes of the offer that are in place (transferred this run, or found complete/resumed). */
  readonly bytes: number;
  readonly totalBytes: number;
  /** Bytes that crossed the network this run. */
  readonly bytesTransferred: number;
  readonly files: number;
}

export interface TransferSummary {
  readonly files: number;
  readonly bytes: number;
  readonly bytesTransferred: number;
  readonly seconds: number;
}
