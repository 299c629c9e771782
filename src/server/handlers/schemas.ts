/** JSON-schema fragments shared by the context ops' bodies (PROTOCOL.md §7). */
import type { Config } from '../../config/schema.ts';
import { badRequest } from '../../protocol/errors.ts';
import type { StoreInput } from '../../engine/types.ts';

export const name = { type: 'string', minLength: 1, maxLength: 128 } as const;
export const level = { type: 'integer', enum: [1, 2, 3] } as const;
export const tags = { type: 'array', maxItems: 64, items: name } as const;
export const metadata = { type: 'object' } as const;
export const timestamp = { type: 'integer', minimum: 0 } as const;
export const contextId = { type: 'string', minLength: 1, maxLength: 64 } as const;
/** Metadata equality filters compare scalars. */
export const where = {
  type: 'object',
  maxProperties: 32,
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
} as const;
export const ttl = { type: 'integer', minimum: 1, maximum: 315_360_000 } as const;

export const storeItemSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['text', 'level'],
  properties: {
    text: { type: 'string', minLength: 1 },
    level,
    session: name,
    agent: name,
    tags,
    metadata,
    ttl_s: ttl,
  },
} as const;

/** Limits the schema cannot express in characters: UTF-8 bytes of text and metadata. */
export function checkStoreInput(input: StoreInput, config: Pick<Config, 'engine'>, field: string): void {
  if (Buffer.byteLength(input.text) > config.engine.max_text_bytes) {
    throw badRequest(`${field}.text`, `${field}.text exceeds max_text_bytes (${config.engine.max_text_bytes})`);
  }
  checkMetadata(input.metadata, config, `${field}.metadata`);
}

export function checkMetadata(value: unknown, config: Pick<Config, 'engine'>, field: string): void {
  if (value === undefined) return;
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    throw badRequest(field, `${field} must be plain data`);
  }
  if (Buffer.byteLength(json) > config.engine.max_metadata_bytes) {
    throw badRequest(field, `${field} exceeds max_metadata_bytes (${config.engine.max_metadata_bytes})`);
  }
}
