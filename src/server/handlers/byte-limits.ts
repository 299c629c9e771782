/** Limits a JSON schema cannot express in characters: UTF-8 bytes of text and metadata (PROTOCOL.md §7.3). */
import type { Config } from '../../config/schema.ts';
import { badRequest } from '../../protocol/errors.ts';

export function checkTextBytes(text: string | undefined, config: Pick<Config, 'engine'>, field: string): void {
  if (text !== undefined && Buffer.byteLength(text) > config.engine.max_text_bytes) {
    throw badRequest(field, `${field} exceeds max_text_bytes (${config.engine.max_text_bytes})`);
  }
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

/** A store body's byte limits; `field` is where it sits in the request (body, body.items.N). */
export function checkStoreInput(input: { text: string; metadata?: unknown }, config: Pick<Config, 'engine'>, field: string): void {
  checkTextBytes(input.text, config, `${field}.text`);
  checkMetadata(input.metadata, config, `${field}.metadata`);
}
