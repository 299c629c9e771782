/**
 * Which embedder made a vector (PROTOCOL.md §5.1): its kind, model and
 * dimensions. Stored with every vector, so vectors of two embedders are never
 * compared; a store refuses to open on vectors of another space until they
 * are re-embedded (`ctxd reindex`).
 */
export interface VectorSpace {
  readonly kind: string;
  readonly model: string;
  readonly dims: number;
}

export function spaceLabel(s: VectorSpace): string {
  return `${s.kind}:${s.model}:${s.dims}`;
}

export function sameSpace(a: VectorSpace, b: VectorSpace): boolean {
  return a.kind === b.kind && a.model === b.model && a.dims === b.dims;
}

/** The store holds vectors of other spaces than the configured embedder's. */
export class VectorSpaceMismatchError extends Error {
  override readonly name = 'VectorSpaceMismatchError';
  readonly configured: VectorSpace;
  readonly stored: ReadonlyArray<{ readonly space: VectorSpace; readonly contexts: number }>;

  constructor(configured: VectorSpace, stored: ReadonlyArray<{ space: VectorSpace; contexts: number }>) {
    const found = stored.map((s) => `${s.contexts} contexts embedded by ${spaceLabel(s.space)}`).join(', ');
    super(`the data dir holds ${found}, but the configured embedder is ${spaceLabel(configured)}: run \`ctxd reindex\` with this configuration to re-embed them (the daemon stopped), or configure the embedder they were made with`);
    this.configured = configured;
    this.stored = stored;
  }
}
