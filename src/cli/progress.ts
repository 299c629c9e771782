/** A progress bar on standard error: redrawn in place on a terminal, a line per step otherwise (logs, CI). */
export function bar(done: number, total: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

export function progress(done: number, total: number): void {
  process.stderr.write(process.stderr.isTTY ? `\r${bar(done, total)}` : `${bar(done, total)}\n`);
}

/** Ends a bar drawn in place. */
export function progressDone(total: number): void {
  if (process.stderr.isTTY && total > 0) process.stderr.write('\n');
}
