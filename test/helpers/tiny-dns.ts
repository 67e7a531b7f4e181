/**
 * A tiny DNS server on 127.0.0.1 (UDP and TCP on one random port) for tests
 * of the forwarder and of the server's forwarding: `reply` decides each
 * answer (null: stay silent); every query received is recorded with its
 * transport.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { decode, encode, type DecodedPacket, type Packet } from 'dns-packet';
import { frame, FrameReader } from '../../src/services/dns/framing.js';

export type TinyReply = (q: DecodedPacket, transport: 'udp' | 'tcp') => Packet | Buffer | Buffer[] | null | Promise<Packet | Buffer | Buffer[] | null>;

export interface TinyDns {
  readonly port: number;
  readonly seen: Array<{ transport: 'udp' | 'tcp'; q: DecodedPacket }>;
  close(): Promise<void>;
}

function toBuffers(r: Packet | Buffer | Buffer[]): Buffer[] {
  if (Array.isArray(r)) return r;
  return [Buffer.isBuffer(r) ? r : encode(r)];
}

export async function tinyDns(reply: TinyReply, port = 0): Promise<TinyDns> {
  const seen: TinyDns['seen'] = [];
  const tcp: Server = createServer((c: Socket) => {
    const reader = new FrameReader();
    c.on('error', () => undefined);
    c.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) {
        const q = decode(m);
        seen.push({ transport: 'tcp', q });
        void Promise.resolve(reply(q, 'tcp')).then((r) => {
          if (r !== null && !c.destroyed) for (const b of toBuffers(r)) c.write(frame(b));
        });
      }
    });
  });
  await new Promise<void>((res) => tcp.listen({ host: '127.0.0.1', port }, () => res()));
  const bound = (tcp.address() as { port: number }).port;
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (m, rinfo) => {
    const q = decode(m);
    seen.push({ transport: 'udp', q });
    void Promise.resolve(reply(q, 'udp')).then((r) => {
      if (r !== null) for (const b of toBuffers(r)) udp.send(b, rinfo.port, rinfo.address);
    });
  });
  await new Promise<void>((res) => udp.bind(bound, '127.0.0.1', () => res()));
  return {
    port: bound,
    seen,
    close: async () => {
      await Promise.all([new Promise<void>((res) => udp.close(() => res())), new Promise<void>((res) => tcp.close(() => res()))]);
    },
  };
}

/** The usual answer: an A record for the question's name, with `ip`. */
export function aAnswer(q: DecodedPacket, ip: string, extra: Partial<Packet> = {}): Packet {
  return { type: 'response', id: q.id, flags: 0x0180, questions: q.questions, answers: [{ name: q.questions![0]!.name, type: 'A', ttl: 30, data: ip }], ...extra };
}
