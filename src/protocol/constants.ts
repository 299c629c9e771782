/** Wire constants of protocol v1 (PROTOCOL.md §2). */
export const PROTOCOL_VERSION = 1;
export const LEN_BYTES = 4;
export const TAG_BYTES = 32;
export const MAX_KID_BYTES = 64;
/** ver + kid_len + 1-byte kid + 1-byte body (fixmap) + tag. */
export const MIN_FRAME_LEN = 1 + 1 + 1 + 1 + TAG_BYTES;
/** Diagnostic frames carry kid_len 0 (PROTOCOL.md §6.1). */
export const MIN_DIAGNOSTIC_LEN = 1 + 1 + 1 + TAG_BYTES;
export const MAX_ID_BYTES = 64;
/** Longest `op` name, in UTF-8 bytes (PROTOCOL.md §4.1): longer is BAD_REQUEST, not UNKNOWN_OP (it is a metric label and a log field). */
export const MAX_OP_BYTES = 64;
export const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** True for the byte values a kid may contain: [A-Za-z0-9._-]. */
export function isKidByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2e || b === 0x5f || b === 0x2d;
}
