/** Texts the benchmarks store: English-like, distinct, of a given size. */
import { randomBytes } from 'node:crypto';

const VOCABULARY = (
  'the of and to in is was for on that with as by at from his her they this which or had are but not be have one all ' +
  'were when we there can an your more their said so some time if will up about out them would into has two other ' +
  'many like these then first been water could who now people its find long down day did get come made may part ' +
  'over new sound take only little work know place year live back give most very after thing our just name good ' +
  'sentence man think say great where help through much before line right too mean old any same tell boy follow came ' +
  'want show also around form three small set put end does another well large must big even such because turn here ' +
  'why ask went men read need land different home us move try kind hand picture again change off play spell air away ' +
  'animal house point page letter mother answer found study still learn should America world high every near add food ' +
  'between own below country plant last school father keep tree never start city earth eye light thought head under ' +
  'story saw left few while along might close something seem next hard open example begin life always those both ' +
  'paper together got group often run important until children side feet car mile night walk white sea began grow ' +
  'took river four carry state once book hear stop without second later miss idea enough eat face watch far Indian ' +
  'cache queue index shard replica leader commit rollback schema migration tenant session agent memory budget token'
).split(' ');

/** Distinct English-like texts: random words of a 300-word vocabulary, so stores are new contexts, not near-duplicates. */
export function englishLike(n: number, bytes: number): string {
  const r = randomBytes(bytes);
  let s = `item ${n}`;
  for (let i = 0; s.length < bytes; i++) s += ' ' + VOCABULARY[((r[i % bytes]! << 8) | r[(i + 1) % bytes]!) % VOCABULARY.length];
  return s.slice(0, bytes);
}

