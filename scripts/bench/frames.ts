/**
 * WebSocket frame-header parsing for the raw-socket load generator (rawclient.ts): FIN, opcode and
 * the 7-, 16- and 64-bit payload lengths, with a header or a payload split over any number of
 * chunks. Of each frame's payload only the first `want` bytes (decided per frame by the caller) are
 * copied out; the rest is skipped by counting.
 */

/** Where the parser stands in the byte stream of one connection. */
export interface FrameState {
  /** Bytes of an incomplete header (or, before the upgrade answer, of the HTTP answer). */
  pend: Buffer | undefined;
  /** Payload bytes of the current frame still to come. */
  need: number;
  /** Opcode of the current message (a continuation frame keeps its first frame's). */
  op: number;
  fin: boolean;
  /** Payload length of the current message so far (continuation frames add up). */
  plen: number;
  /** Payload bytes wanted from the current frame (a prefix), and those collected so far in `got`. */
  want: number;
  got: Buffer | undefined;
  gotLen: number;
}

export function newFrameState(): FrameState {
  return { pend: undefined, need: 0, op: 0, fin: true, plen: 0, want: 0, got: undefined, gotLen: 0 };
}

/**
 * Parses the frames in `chunk`, carrying a partial header or payload over to the next call.
 * `wantFor(st, opcode, payloadLength)` says how many payload bytes of a frame to copy into
 * `st.got`; `done(st)` runs once per complete frame (st.op, st.fin, st.plen, st.got[0, st.gotLen)).
 */
export function parseFrames<S extends FrameState>(st: S, chunk: Buffer, wantFor: (st: S, op: number, plen: number) => number, done: (st: S) => void): void {
  let buf = chunk;
  if (st.pend) {
    buf = Buffer.concat([st.pend, chunk]);
    st.pend = undefined;
  }
  const len = buf.length;
  let off = 0;
  while (off < len) {
    if (st.need > 0) {
      const take = Math.min(st.need, len - off);
      if (st.gotLen < st.want) {
        const k = Math.min(take, st.want - st.gotLen);
        buf.copy(st.got as Buffer, st.gotLen, off, off + k);
        st.gotLen += k;
      }
      off += take;
      st.need -= take;
      if (st.need === 0) done(st);
      continue;
    }
    if (len - off < 2) {
      st.pend = Buffer.from(buf.subarray(off));
      return;
    }
    const b0 = buf[off] as number;
    const b1 = buf[off + 1] as number;
    let plen = b1 & 0x7f;
    let hl = 2;
    if (plen === 126) hl = 4;
    else if (plen === 127) hl = 10;
    // servers do not mask; a masked frame is tolerated (its key skipped, the payload not unmasked)
    if ((b1 & 0x80) !== 0) hl += 4;
    if (len - off < hl) {
      st.pend = Buffer.from(buf.subarray(off));
      return;
    }
    if (plen === 126) plen = buf.readUInt16BE(off + 2);
    else if (plen === 127) plen = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
    off += hl;
    const op = b0 & 0x0f;
    if (op !== 0) st.op = op;
    st.fin = (b0 & 0x80) !== 0;
    st.plen = op === 0 ? st.plen + plen : plen;
    st.need = plen;
    const want = wantFor(st, op === 0 ? st.op : op, plen);
    st.want = want;
    st.gotLen = 0;
    if (want > 0 && (!st.got || st.got.length < want)) st.got = Buffer.allocUnsafe(Math.max(want, 16));
    if (plen === 0) done(st);
  }
}
