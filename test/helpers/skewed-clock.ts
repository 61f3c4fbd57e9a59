/**
 * A --preload for role processes whose clock must be wrong: every Date of the process is
 * CLOCK_SKEW_MS (signed) away from the host's clock. Says so on stderr, so a test can check it
 * took effect.
 */
const skew = Number(process.env.CLOCK_SKEW_MS ?? 0);
const RealDate = Date;

class SkewedDate extends RealDate {
  constructor(...args: ConstructorParameters<DateConstructor> | []) {
    if (args.length === 0) super(RealDate.now() + skew);
    else super(...(args as [number]));
  }
  static override now(): number {
    return RealDate.now() + skew;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
console.error(`skewed clock: ${skew} ms; this process thinks it is ${new Date().toISOString()}`);
