/**
 * Answers as tests read them, typed from the op schemas (src/protocol/ops):
 * the answer message a hand-made peer decodes off the wire, typed by its op
 * where the test knows the op, and a store_batch result narrowed to the
 * item's store answer.
 */
import type { CtxdError, OpAnswer, OpName, StoreAnswer, WireErrorAnswer } from '../../src/client/index.ts';
import type { Body } from '../../src/protocol/messages.ts';

/** What tests read of an error's details (PROTOCOL.md §6): the field path, the limit hit, and whatever else its code carries. */
export type ErrorDetails = { readonly field?: string; readonly limit?: string; readonly [key: string]: unknown };

/** A wire error (§4.2) with its details readable. */
export type AnswerError = Omit<WireErrorAnswer, 'details'> & { readonly details?: ErrorDetails };

/** The answer body of `op` when it is an op of the table; any map otherwise (debug ops, or an op named at run time). */
export type AnswerBody<O extends string> = O extends OpName ? OpAnswer<O> : Body;

/**
 * An answer message as decoded off the wire (PROTOCOL.md §4.2). Nothing
 * enforced this shape when it was decoded: expectWellFormed (hostile.ts)
 * checks it at run time. `body` is there only when `ok` is true and `error`
 * only when it is false, so a test reads one after checking the answer's code.
 */
export interface AnswerMessage<B = Body> {
  readonly id: string;
  readonly ts: number;
  readonly ok: boolean;
  readonly body: B;
  readonly error: AnswerError;
}

/** One item's result in a store_batch answer: its store answer, or its own error. */
export type BatchResult = OpAnswer<'store_batch'>['results'][number];

/** The store answer of a store_batch item; throws (naming the item's error) when the item was refused. */
export function storedItem(r: BatchResult): StoreAnswer {
  if ('error' in r) throw new Error(`store_batch item refused: ${r.error.code}: ${r.error.message}`);
  return r;
}

/** The error a request must fail with (a test fails if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<CtxdError> {
  try {
    await p;
  } catch (e) {
    return e as CtxdError;
  }
  throw new Error('expected the request to fail');
}
