/**
 * A sender whose cost does not depend on signing: every datagram (signed or not) is built before the clock
 * starts, then sent at a fixed rate. `node --import tsx bench/udp-sender.ts PORT RATE SECONDS [SECRET_HEX KEY_ID]`
 * prints `sent N`. Signed datagrams must be sent within the daemon's --auth-window of being built (60 s).
 */
import { createSocket } from 'node:dgram';
import { signDatagram } from '../src/core/sign.js';
import { message } from '../test/helpers/daemon.js';

const [port, rate, seconds, secretHex, keyId] = process.argv.slice(2);
const total = Number(rate) * Number(seconds);
const key = secretHex ? { id: keyId, secret: Buffer.from(secretHex, 'hex') } : undefined;
const now = Date.now();
const datagrams = Array.from({ length: total }, (_, i) => {
  const json = message(`svc-${String(i % 100).padStart(3, '0')}`, now / 1000 - i / Number(rate) / 1000, i % 100);
  return key ? signDatagram(key, json, now) : Buffer.from(json);
});
const socket = createSocket('udp4');
socket.connect(Number(port), '127.0.0.1', () => {
  const started = performance.now();
  let sent = 0;
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * Number(rate)));
    while (sent < due) socket.send(datagrams[sent++]);
    if (sent < total) setImmediate(tick);
    else socket.close(() => console.log(`sent ${sent}`));
  };
  tick();
});
