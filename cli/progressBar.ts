/**
 * Progress on stderr: one `\r`-redrawn line when stderr is a terminal, plain lines otherwise
 * (a log file or a CI job gets one line per step instead of control characters).
 */
const WIDTH = 24;

export class ProgressBar {
  private readonly total: number;
  private readonly unit: string;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private done = 0;
  private shown = false;

  constructor(total: number, unit: string, stream: NodeJS.WriteStream = process.stderr) {
    this.total = total;
    this.unit = unit;
    this.stream = stream;
    this.tty = stream.isTTY === true;
  }

  /** One step finished; `line` says what happened (printed in full when not a terminal). */
  step(line: string): void {
    this.done++;
    if (this.tty) this.draw(line);
    else this.stream.write(`[${this.done}/${this.total}] ${line}\n`);
  }

  /** A message that is not a step, kept above the bar. */
  note(line: string): void {
    if (this.tty && this.shown) this.stream.write("\r\x1b[K");
    this.stream.write(`${line}\n`);
    if (this.tty && this.shown) this.draw("");
  }

  /** Clears the bar so what follows starts on a clean line. */
  finish(): void {
    if (this.tty && this.shown) this.stream.write("\r\x1b[K");
    this.shown = false;
  }

  private draw(label: string): void {
    const filled = this.total === 0 ? WIDTH : Math.round((WIDTH * this.done) / this.total);
    const bar = `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${this.done}/${this.total} ${this.unit} ${label}`;
    this.stream.write(`\r\x1b[K${bar.slice(0, (this.stream.columns ?? 80) - 1)}`);
    this.shown = true;
  }
}
