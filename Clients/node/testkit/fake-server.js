// A scripted fake docketd for tests that need replies a real server does not give (byte-level
// splits, protocol violations, an older server's answers).
import net from 'node:net';

/**
 * A fake docketd: sends INFO, answers the handshake PING, then hands each connection's lines
 * (payload lines included: the fake does not frame payloads) to `onLine(line, socket, index)`.
 * @param {(line: string, socket: net.Socket, index: number) => void} onLine
 */
export async function fakeServer(onLine) {
  /** @type {net.Socket[]} */
  const sockets = [];
  const server = net.createServer((socket) => {
    const index = sockets.length;
    sockets.push(socket);
    socket.on('error', () => {});
    socket.write('INFO {"server_id":"FAKE","version":"2.9.0","proto":1,"headers":true,"max_payload":1048576}\r\n');
    let buf = '';
    let handshake = true;
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      let nl;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (handshake) {
          if (line === 'PING') {
            handshake = false;
            socket.write('PONG\r\n');
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
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r(undefined));
      }),
  };
}
