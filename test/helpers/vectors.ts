/** Loads the golden frames of protocol/vectors/. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ValidVector {
  name: string;
  kid: string;
  secret_hex: string;
  message: Record<string, unknown>;
  frame_hex: string;
}

export interface RejectVector {
  name: string;
  frame_hex: string;
  expect_error: string;
  note: string;
}

const DIR = join(import.meta.dirname, '..', '..', 'protocol', 'vectors');

function load<T>(filter: (name: string) => boolean): T[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json') && filter(f))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as T);
}

export const validVectors = (): ValidVector[] => load<ValidVector>((f) => !f.startsWith('reject-'));
export const rejectVectors = (): RejectVector[] => load<RejectVector>((f) => f.startsWith('reject-'));

/** The key every vector is signed with. */
export const VECTOR_KID = 'test-key';
export const VECTOR_SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
