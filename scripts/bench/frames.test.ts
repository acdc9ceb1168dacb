import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { newFrameState, parseFrames } from './frames';
import type { FrameState } from './frames';

/** A server frame (unmasked unless mask is given) with the smallest length encoding RFC 6455 allows. */
function frame(op: number, payload: Buffer, fin = true, mask?: Buffer): Buffer {
  const n = payload.length;
  const b0 = (fin ? 0x80 : 0) | op;
  const m = mask ? 0x80 : 0;
  let head: Buffer;
  if (n < 126) head = Buffer.from([b0, m | n]);
  else if (n < 65536) {
    head = Buffer.from([b0, m | 126, 0, 0]);
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = m | 127;
    head.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    head.writeUInt32BE(n >>> 0, 6);
  }
  return Buffer.concat([head, ...(mask ? [mask] : []), payload]);
}

interface Seen {
  op: number;
  fin: boolean;
  plen: number;
  prefix: string;
}

/** Feeds `stream` in chunks of the given sizes (cycled); records every frame with its first `want` payload bytes. */
function parse(stream: Buffer, sizes: number[], want = 8): Seen[] {
  const st = newFrameState();
  const seen: Seen[] = [];
  const wantFor = (_s: FrameState, _op: number, plen: number): number => Math.min(plen, want);
  const done = (s: FrameState): void => {
    seen.push({ op: s.op, fin: s.fin, plen: s.plen, prefix: s.got ? s.got.toString('latin1', 0, s.gotLen) : '' });
  };
  let off = 0;
  for (let i = 0; off < stream.length; i++) {
    const n = sizes[i % sizes.length] as number;
    parseFrames(st, stream.subarray(off, off + n), wantFor, done);
    off += n;
  }
  return seen;
}

const text = (s: string): Buffer => Buffer.from(s);
const big = (n: number, c: string): Buffer => Buffer.alloc(n, c);

describe('parseFrames (raw-socket load generator)', () => {
  const frames = [
    frame(1, text('{"type":"auth","ok":true}')),
    frame(1, text('')),
    frame(9, text('ping!')),
    frame(2, big(125, 'a')),
    frame(1, big(126, 'b')),
    frame(1, big(65535, 'c')),
    frame(1, big(65536, 'd')),
    frame(1, big(200_000, 'e')),
    frame(8, Buffer.from([0x0f, 0xa5])),
  ];
  const stream = Buffer.concat(frames);
  const expected: Seen[] = [
    { op: 1, fin: true, plen: 25, prefix: '{"type":' },
    { op: 1, fin: true, plen: 0, prefix: '' },
    { op: 9, fin: true, plen: 5, prefix: 'ping!' },
    { op: 2, fin: true, plen: 125, prefix: 'aaaaaaaa' },
    { op: 1, fin: true, plen: 126, prefix: 'bbbbbbbb' },
    { op: 1, fin: true, plen: 65535, prefix: 'cccccccc' },
    { op: 1, fin: true, plen: 65536, prefix: 'dddddddd' },
    { op: 1, fin: true, plen: 200_000, prefix: 'eeeeeeee' },
    { op: 8, fin: true, plen: 2, prefix: '\x0f\xa5' },
  ];

  test('7-, 16- and 64-bit lengths, control frames and empty frames in one chunk', () => {
    assert.deepEqual(parse(stream, [stream.length]), expected);
  });

  test('the same stream split into chunks of 1, 2, 3, 7, 13 and 4096 bytes', () => {
    for (const size of [1, 2, 3, 7, 13, 4096]) assert.deepEqual(parse(stream, [size]), expected, `chunks of ${size}`);
  });

  test('a split at every offset of the headers of a 64-bit and a 16-bit frame', () => {
    const two = Buffer.concat([frame(1, big(70_000, 'x')), frame(1, big(300, 'y'))]);
    for (let cut = 1; cut < 14; cut++) {
      const second = 10 + 70_000 + cut;
      const seen = parse(two, [cut, second - cut, two.length]);
      assert.deepEqual(
        seen.map((s) => [s.plen, s.prefix]),
        [
          [70_000, 'xxxxxxxx'],
          [300, 'yyyyyyyy'],
        ],
        `cut at ${cut}`,
      );
    }
  });

  test('fragments: the message length adds up and FIN is set on the last', () => {
    const s = Buffer.concat([frame(1, text('hello '), false), frame(0, text('wor'), false), frame(0, text('ld'), true)]);
    const seen = parse(s, [5]);
    assert.deepEqual(
      seen.map((x) => [x.op, x.fin, x.plen]),
      [
        [1, false, 6],
        [1, false, 9],
        [1, true, 11],
      ],
    );
  });

  test('a masked frame is skipped over by its length (mask key included)', () => {
    const s = Buffer.concat([frame(1, text('abc'), true, Buffer.from([1, 2, 3, 4])), frame(1, text('next'))]);
    assert.deepEqual(
      parse(s, [1]).map((x) => x.plen),
      [3, 4],
    );
  });

  test('only the wanted prefix is copied: want 0 leaves got empty', () => {
    const st = newFrameState();
    const lens: number[] = [];
    parseFrames(
      st,
      Buffer.concat([frame(1, big(1000, 'z')), frame(1, big(10, 'w'))]),
      () => 0,
      (s) => lens.push(s.gotLen),
    );
    assert.deepEqual(lens, [0, 0]);
    assert.equal(st.need, 0);
    assert.equal(st.pend, undefined);
  });
});
