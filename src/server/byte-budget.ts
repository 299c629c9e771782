/** The global cap on bytes held for incomplete frames, shared by every connection's decoder. */
import type { ByteBudget } from '../protocol/decoder.ts';

export class SharedByteBudget implements ByteBudget {
  private used = 0;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  get bytesInUse(): number {
    return this.used;
  }

  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }
}
