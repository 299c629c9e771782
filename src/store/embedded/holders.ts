/**
 * The rows (ANN keys) holding one value of an indexed field (field-index.ts, metadata-index.ts): a key alone while
 * there is one (most sessions of an L3 hold few rows), a short list up to LIST_MAX (a Set of ten costs ~350 B, the
 * list ~180), then a set. Adding a key twice holds it once.
 */
export type Holders = number | number[] | Set<number>;
const LIST_MAX = 32;

export const sizeOf = (h: Holders | undefined): number => (h === undefined ? 0 : typeof h === 'number' ? 1 : Array.isArray(h) ? h.length : h.size);
export const keysOf = (h: Holders | undefined): Iterable<number> => (h === undefined ? [] : typeof h === 'number' ? [h] : h);

export function addTo(map: Map<string, Holders>, value: string, key: number): void {
  const h = map.get(value);
  if (h === undefined) map.set(value, key);
  else if (typeof h === 'number') {
    if (h !== key) map.set(value, [h, key]);
  } else if (!Array.isArray(h)) h.add(key);
  else if (!h.includes(key)) {
    if (h.length < LIST_MAX) h.push(key);
    else map.set(value, new Set([...h, key]));
  }
}

export function removeFrom(map: Map<string, Holders>, value: string, key: number): void {
  const h = map.get(value);
  if (h === undefined) return;
  if (typeof h === 'number') {
    if (h === key) map.delete(value);
  } else if (Array.isArray(h)) {
    const at = h.indexOf(key);
    if (at < 0) return;
    h[at] = h[h.length - 1]!;
    h.pop();
    if (h.length === 1) map.set(value, h[0]!);
  } else {
    h.delete(key);
    if (h.size === 1) map.set(value, h.values().next().value!);
  }
}
