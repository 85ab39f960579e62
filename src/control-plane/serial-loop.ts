/**
 * A leader's loop of passes (the pool and pipeline controllers): a pass at least every `periodMs` while started,
 * and soon after each `wake()`. Passes never overlap and are at least `minSpacingMs` apart; wakes during a pass
 * run one more pass after it, however many there were. A failed pass is reported to `onError`; the next one retries.
 */
export class SerialLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private lastPassAt = 0;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly options: { periodMs: number; minSpacingMs: number; onError: (err: unknown) => void },
  ) {}

  get started(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.wake(), this.options.periodMs);
    this.timer.unref();
    this.wake();
  }

  /** Stops the timer and waits for the pass under way, if any. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.again = false;
    await this.running;
  }

  /** Runs a pass soon: once the current one ends, if one runs, and at most one every minSpacingMs. */
  wake(): void {
    if (!this.timer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        const wait = this.lastPassAt + this.options.minSpacingMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          await this.pass();
        } catch (err) {
          this.options.onError(err);
        }
        this.lastPassAt = Date.now();
      } while (this.again && this.timer);
      this.running = null;
    })();
  }
}
