// A scripted fake docketd for tests that need replies a real server does not give (byte-level
// splits, protocol violations, an older server's answers, refused credentials).
import net from 'node:net';

/**
 * A fake docketd: sends INFO, answers the handshake PING, then hands each connection's lines
 * (payload lines included: the fake does not frame payloads) to `onLine(line, socket, index)`.
 * Every CONNECT line is kept, exactly as received, in `connects` (CRLF included).
 * @param {(line: string, socket: net.Socket, index: number) => void} [onLine]
 * @param {{info?: Record<string, unknown>, accept?: (connect: any, index: number) => boolean, dropAfterHandshake?: boolean, withPong?: (index: number) => string, beforeInfo?: (index: number) => string}} [opts]
 *   info: extra INFO fields (e.g. `{auth_required: true}`); accept: called with each CONNECT's
 *   JSON; false answers `-ERR 'Authorization Violation'` and closes, as docketd does;
 *   dropAfterHandshake: close each connection right after its handshake's PONG; withPong: what the
 *   i-th connection gets in the same write as its handshake's PONG; beforeInfo: what the i-th
 *   connection gets before its INFO (a server that does not speak first with INFO)
 */
export async function fakeServer(onLine = () => {}, opts = {}) {
  /** @type {net.Socket[]} */
  const sockets = [];
  /** @type {string[]} */
  const connects = [];
  /** @type {number[]} when each connection arrived (performance.now()) */
  const arrivals = [];
  const info = { server_id: 'FAKE', version: '2.9.0', proto: 1, headers: true, max_payload: 1048576, ...opts.info };
  const server = net.createServer((socket) => {
    const index = sockets.length;
    sockets.push(socket);
    arrivals.push(performance.now());
    socket.on('error', () => {});
    socket.write(`${opts.beforeInfo?.(index) ?? ''}INFO ${JSON.stringify(info)}\r\n`);
    let buf = '';
    let handshake = true;
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      let nl;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (handshake) {
          if (line.startsWith('CONNECT ')) {
            connects.push(Buffer.from(`${line}\r\n`, 'latin1').toString('utf8'));
            if (opts.accept && !opts.accept(JSON.parse(Buffer.from(line.slice(8), 'latin1').toString('utf8')), index)) {
              socket.end("-ERR 'Authorization Violation'\r\n");
              buf = '';
              return;
            }
          } else if (line === 'PING') {
            handshake = false;
            socket.write(`PONG\r\n${opts.withPong?.(index) ?? ''}`);
            if (opts.dropAfterHandshake) {
              socket.end();
              return;
            }
          }
          continue;
        }
        onLine(line, socket, index);
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const port = /** @type {net.AddressInfo} */ (server.address()).port;
  return {
    port,
    sockets,
    connects,
    arrivals,
    /** The JSON of the i-th CONNECT (default: the last). @param {number} [i] */
    connectJson: (i = connects.length - 1) => JSON.parse(connects[i].slice(8, -2)),
    /** Drops every connection, as a server going away would. */
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r(undefined));
      }),
  };
}
