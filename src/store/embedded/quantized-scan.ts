/**
 * 8-bit copies of a partition's vectors, for the nearest-neighbour scans that
 * run once per stored text (dedup asks each new text's nearest neighbour in
 * its scope) while the partition is small enough to be searched exactly.
 *
 * Why: below the graph threshold every store scanned every row in float32,
 * half of a store's CPU (1,580 stores/s against 3,089/s with dedup off). The
 * same scan over 8-bit vectors reads a quarter of the bytes: 0.23 ms against
 * 0.86 ms a query at 16,384 rows of 384 dimensions, one core. The scan only
 * proposes candidates; the partition scores them with their float32 vectors,
 * so similarities stay exact and only the choice of candidates is approximate
 * (measured: the true nearest neighbour of every near-duplicate was among
 * them; of unrelated queries, 96 % with 8 candidates beyond k and 100 % with 32).
 */
import usearch from 'usearch';

const { MetricKind } = usearch;

/** Candidates beyond k the 8-bit scan proposes for float32 re-scoring. */
export const CANDIDATE_MARGIN = 16;

/**
 * Largest k served from 8-bit candidates. Dedup asks for 1; a retrieve asks for its candidates_per_level (100 by
 * default), and its exact scan stays float32, so what a small collection returns is exactly the most similar.
 */
export const QUANTIZED_MAX_K = 4;

/** Smallest partition scanned through 8-bit copies: below it a float32 scan is < 0.06 ms, not worth a copy per small tenant. */
export const QUANTIZED_MIN_ROWS = 1024;

/**
 * Components are unit-vector coordinates: a scale that maps 4 standard deviations of a random unit vector
 * (4/√dims) to 127 clamps few of them (0.7 % of the hash embedder's at 384 dimensions) and keeps resolution
 * for the rest (×127 alone would leave the typical coordinate ~6 steps).
 */
function scaleFor(dims: number): number {
  return (127 * Math.sqrt(dims)) / 4;
}

export class QuantizedVectors {
  private readonly dims: number;
  private readonly scale: number;
  private data: Int8Array;
  private count = 0;

  constructor(dims: number, vectors: Float32Array, rows: number) {
    this.dims = dims;
    this.scale = scaleFor(dims);
    this.data = new Int8Array(Math.max(16, rows) * dims);
    this.append(vectors.subarray(0, rows * dims));
  }

  get size(): number {
    return this.count;
  }

  /** Rows appended after the last one, contiguous. */
  append(vectors: Float32Array): void {
    const rows = vectors.length / this.dims;
    const needed = (this.count + rows) * this.dims;
    if (needed > this.data.length) {
      const grown = new Int8Array(Math.max(needed, this.data.length * 2));
      grown.set(this.data.subarray(0, this.count * this.dims));
      this.data = grown;
    }
    this.quantize(vectors, this.data, this.count * this.dims);
    this.count += rows;
  }

  /** The last row takes `slot`'s place (the partition's swap-remove); the last slot is dropped. */
  moveLastTo(slot: number): void {
    const last = this.count - 1;
    if (slot !== last) this.data.copyWithin(slot * this.dims, last * this.dims, (last + 1) * this.dims);
    this.count--;
  }

  /** The slots of the `want` rows most similar to each query by their 8-bit vectors, best first. */
  candidates(queries: Float32Array, want: number, threads: number): BigUint64Array[] {
    const n = queries.length / this.dims;
    const q = new Int8Array(queries.length);
    this.quantize(queries, q, 0);
    const found = usearch.exactSearch(this.data.subarray(0, this.count * this.dims), q, this.dims, Math.min(want, this.count), MetricKind.IP, threads);
    if (found instanceof usearch.BatchMatches) return Array.from({ length: n }, (_, i) => found.get(i).keys);
    return [found.keys];
  }

  private quantize(from: Float32Array, to: Int8Array, at: number): void {
    const s = this.scale;
    for (let i = 0; i < from.length; i++) {
      const x = Math.round(from[i]! * s);
      to[at + i] = x > 127 ? 127 : x < -127 ? -127 : x;
    }
  }
}
