/** `ctxd ping`: is the daemon there, and how far away. */
import { CONNECTION_HELP, showHelp, parse, print, withClient, type Env } from '../common.ts';

export const help = `Usage: ctxd ping [flags]\n\nSends hello and ping; prints the server and the round-trip time.\n\n${CONNECTION_HELP}`;

export async function run(argv: string[], env: Env): Promise<number> {
  const { values } = parse(argv, {}, false);
  if (values.help) return showHelp(help);
  return withClient('ping', values, env, async (c) => {
    const hello = await c.hello();
    const t = performance.now();
    await c.ping();
    const rtt = performance.now() - t;
    print(values.json, { ok: true, rtt_ms: +rtt.toFixed(3), server: hello }, () =>
      `pong from ${hello.server} ${hello.version} in ${rtt.toFixed(2)} ms (key ${hello.kid}, tenant ${hello.tenant}, role ${hello.role})`);
  });
}
