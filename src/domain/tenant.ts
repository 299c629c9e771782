/**
 * Tenant names (PROTOCOL.md §5): 1..64 characters of [A-Za-z0-9._-], starting
 * with a letter or digit. They appear in keyrings, config, logs and metric
 * labels, so no NUL bytes, separators or `../` ever reach those places.
 */
export const TENANT_PATTERN_SOURCE = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
export const TENANT_PATTERN = new RegExp(TENANT_PATTERN_SOURCE);

export function isTenantName(name: unknown): name is string {
  return typeof name === 'string' && TENANT_PATTERN.test(name);
}
