/**
 * A timeout counted in ticks (TigerBeetle style): it is started, ticked, and
 * tested with `fired()`; nothing happens by itself. The core owns no clock.
 */
export class Timeout {
  private ticks = 0;
  private ticking = false;

  readonly name: string;
  /** Ticks from start (or reset) until the timeout fires. */
  afterTicks: number;

  constructor(name: string, afterTicks: number) {
    this.name = name;
    this.afterTicks = afterTicks;
    if (!(afterTicks >= 1 && Number.isInteger(afterTicks))) {
      throw new RangeError(`timeout ${name}: afterTicks must be a positive integer, got ${afterTicks}`);
    }
  }

  get running(): boolean {
    return this.ticking;
  }

  get elapsedTicks(): number {
    return this.ticks;
  }

  start(): void {
    this.ticks = 0;
    this.ticking = true;
  }

  stop(): void {
    this.ticks = 0;
    this.ticking = false;
  }

  /** Restart counting from zero; a stopped timeout stays stopped. */
  reset(): void {
    this.ticks = 0;
  }

  tick(): void {
    if (this.ticking) this.ticks += 1;
  }

  /** Ticks until `fired()` turns true, or null while stopped. */
  get remainingTicks(): number | null {
    return this.ticking ? Math.max(0, this.afterTicks - this.ticks) : null;
  }

  fired(): boolean {
    return this.ticking && this.ticks >= this.afterTicks;
  }
}
