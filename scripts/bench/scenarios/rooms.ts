/**
 * Scenario rooms: room fan-out (SPEC section 9) to one room of N subscribers and to R rooms of N/R,
 * against bare uWebSockets.js topics (ws.subscribe + app.publish) and Socket.IO 4 rooms
 * (socket.join + io.to(room).emit).
 *
 * N connections, one user each. Gateway: membership through JoinRoom (at most 1,000 users per
 * call), pushes through PushToRoom; baselines: the server subscribes ranges of its open sockets
 * (IPC `join`) and publishes (IPC `publishRooms`). Per layout: deliveries/s of `messages` pushes
 * to the one room (sequential calls) or of `rounds` rounds of one push to each of the R rooms
 * (concurrent calls per round), deliveries per server CPU second, and the time from the call to
 * the last subscriber's frame for a single push (one room) or a single round (R rooms), `samples`
 * times. Frames are about 100 bytes on every server (the gateway's room push frame).
 */
import { performance } from 'node:perf_hooks';
import { HOST, summarize } from '../common';
import type { LatencySummary } from '../common';
import { baselineFrame, benchPayload, fmt, gatewayApi } from '../harness';
import type { Bench, Scn } from '../harness';
import type { Proc } from '../supervisor';
import type { BenchParams } from '../params';

/** Users per JoinRoom call (the gateway's server.maxUsersPerCall in the bench config). */
const JOIN_BATCH = 1000;
const FRAME_BYTES = 100;

export async function rooms(params: BenchParams['rooms'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { subscribers: n, rooms: nRooms, messages, rounds, samples } = params;
  const perRoom = Math.floor(n / nRooms);
  const bigRoom = 'bench-all';
  const smallRooms = Array.from({ length: nRooms }, (_, k) => `bench-${k}`);
  /** Variant names: one room of n, nRooms rooms of perRoom. */
  const one = `1x${n}`;
  const many = `${nRooms}x${perRoom}`;
  const variants: Record<string, Record<string, number>> = {};
  const set = (v: string, k: string, x: number): void => {
    (variants[v] ??= {})[k] = x;
  };
  const timeToAll: Record<string, Record<string, LatencySummary>> = {};
  const joinMs: Record<string, Record<string, number>> = {};
  const problems: string[] = [];
  const problem = (m: string): void => {
    sup.log(`rooms PROBLEM: ${m}`);
    problems.push(m);
  };

  /**
   * The measurements of one server: `joinRange(room, from, count)` makes connections
   * [from, from + count) members and resolves with the connections subscribed; `publish(rooms, count)`
   * pushes `count` times to the one room, or `count` rounds to each of the rooms.
   */
  const measure = async (
    key: string,
    pid: number | undefined,
    joinRange: (room: string, from: number, count: number) => Promise<number>,
    publish: (rooms: string[], count: number) => Promise<void>,
  ): Promise<void> => {
    let t = performance.now();
    const inBig = await joinRange(bigRoom, 0, n);
    (joinMs[one] ??= {})[key] = performance.now() - t;
    t = performance.now();
    let inSmall = 0;
    for (let k = 0; k < nRooms; k++) inSmall += await joinRange(smallRooms[k] as string, k * perRoom, perRoom);
    (joinMs[many] ??= {})[key] = performance.now() - t;
    sup.log(`rooms ${key}: ${inBig} connections in ${bigRoom} (${fmt(joinMs[one][key] as number)} ms), ${inSmall} in ${nRooms} rooms (${fmt(joinMs[many][key] as number)} ms)`);
    if (inBig !== n) problem(`${key}: ${inBig} connections subscribed to the room of ${n}`);
    if (inSmall !== nRooms * perRoom) problem(`${key}: ${inSmall} connections subscribed to ${nRooms} rooms of ${perRoom}`);
    for (const [v, rs, count, expectedPer] of [
      [one, [bigRoom], messages, n],
      [many, smallRooms, rounds, nRooms * perRoom],
    ] as const) {
      const r = await bench.measureDeliveries(`rooms ${key} ${v} ${FRAME_BYTES} B`, expectedPer * count, () => publish([...rs], count), 60_000, pid);
      set(v, key, r.rate);
      set(`${v}-perServerCpuSec`, key, r.perServerCpuSec);
      if (r.received !== r.expected) problem(`${key} ${v}: ${r.received} of ${r.expected} frames received`);
      const ms: number[] = [];
      for (let i = 0; i < samples; i++) {
        const s = await bench.measureDeliveries(`rooms ${key} ${v} time to all`, expectedPer, () => publish([...rs], 1), 20_000);
        if (s.received !== s.expected) problem(`${key} ${v} single push: ${s.received} of ${s.expected} frames received`);
        else ms.push(s.ms);
      }
      const sum = summarize(ms);
      sup.log(`rooms ${key} ${v}: time to all subscribers, ${sum.count} single ${v === one ? 'pushes' : 'rounds'}: p50 ${sum.p50} ms, max ${sum.max} ms`);
      (timeToAll[v] ??= {})[key] = sum;
      set(`${v}-timeToAllMs`, key, sum.p50);
    }
  };

  /** The last frame a client got from the gateway is a room push frame of a bench room. */
  const checkFrame = async (w: Proc): Promise<void> => {
    const { frame } = await sup.call<{ frame: string }>(w, 'lastFrame');
    try {
      const f = JSON.parse(frame) as Record<string, unknown>;
      if (f['type'] !== 'bench' || ![bigRoom, ...smallRooms].includes(String(f['room'])) || typeof f['payload'] !== 'string') problem(`ima: unexpected room push frame ${frame.slice(0, 200)}`);
      else sup.log(`rooms ima: room push frame of ${Buffer.byteLength(frame)} bytes, e.g. ${frame.slice(0, 60)}...${frame.slice(-40)}`);
    } catch {
      problem(`ima: room push frame is not JSON: ${frame.slice(0, 200)}`);
    }
  };

  {
    const g = await bench.startGateway('gateway');
    const api = gatewayApi(`${HOST}:${g.grpc}`);
    const payload = Buffer.from(benchPayload(FRAME_BYTES));
    /** PushToRoom calls and the sum of their `delivered` against the connections they should reach. */
    const pushes = { calls: 0, delivered: 0, expected: 0, instances: new Set<number>() };
    try {
      const c = await bench.connectAll('rooms ima', 'ws', [g.ws], n, { users: n, userPrefix: 'rm', concurrency: 200 });
      if (c.opened !== n) problem(`ima: ${c.opened} of ${n} connections opened`);
      const joinRange = async (room: string, from: number, count: number): Promise<number> => {
        let subscribed = 0;
        for (let i = from; i < from + count; i += JOIN_BATCH) {
          const userIds = Array.from({ length: Math.min(JOIN_BATCH, from + count - i) }, (_, j) => `rm${i + j}`);
          const r = await api.call('JoinRoom', { room, userIds });
          if (r['success'] !== true) problem(`ima: JoinRoom ${room} answered ${JSON.stringify(r)}`);
          subscribed += Number(r['connections']);
        }
        return subscribed;
      };
      const pushTo = async (room: string): Promise<void> => {
        const r = await api.call('PushToRoom', { room, message: { type: 'bench', payload } });
        pushes.calls++;
        pushes.delivered += Number(r['delivered']);
        pushes.expected += room === bigRoom ? n : perRoom;
        pushes.instances.add(Number(r['instances']));
        if (r['success'] !== true) problem(`ima: PushToRoom ${room} answered ${JSON.stringify(r)}`);
      };
      await measure('ima', g.proc.child.pid, joinRange, async (rs, count) => {
        if (rs.length === 1) for (let i = 0; i < count; i++) await pushTo(rs[0] as string);
        else for (let i = 0; i < count; i++) await Promise.all(rs.map(pushTo));
      });
      sup.log(`rooms ima: ${pushes.calls} PushToRoom calls reported ${pushes.delivered} delivered of ${pushes.expected} subscribers reached (instances ${[...pushes.instances].join(', ')})`);
      if (pushes.delivered !== pushes.expected) problem(`ima: PushToRoom reported ${pushes.delivered} delivered, expected ${pushes.expected} over ${pushes.calls} calls`);
      await checkFrame(bench.workers[0] as Proc);
    } finally {
      api.client.close();
      await bench.closeAllClients();
      await sup.stop(g.proc);
    }
  }

  for (const [key, script, kind] of [
    ['bareUws', 'uws-server.js', 'ws'],
    ['socketio', 'sio-server.js', 'sio'],
  ] as const) {
    const b = await bench.startBaseline(script, key, { BENCH_ROOMS: '1' });
    try {
      const c = await bench.connectAll(`rooms ${key}`, kind, [b.port], n, { users: n, userPrefix: 'rm', concurrency: 200 });
      if (c.opened !== n) problem(`${key}: ${c.opened} of ${n} connections opened`);
      const frame = baselineFrame(FRAME_BYTES);
      await measure(
        key,
        b.proc.child.pid,
        async (room, from, count) => (await sup.call<{ joined: number }>(b.proc, 'join', { room, from, count })).joined,
        async (rs, count) => {
          await sup.call(b.proc, 'publishRooms', { rooms: rs, frame, count }, 60_000);
        },
      );
    } finally {
      await bench.closeAllClients();
      await sup.stop(b.proc);
    }
  }

  const ratios: Record<string, { vsBareUws: number | null; vsSocketio: number | null }> = {};
  for (const [v, o] of Object.entries(variants)) {
    const r = (base: number | undefined): number | null => (o['ima'] !== undefined && base !== undefined && base > 0 && Number.isFinite(o['ima'] / base) ? o['ima'] / base : null);
    ratios[v] = { vsBareUws: r(o['bareUws']), vsSocketio: r(o['socketio']) };
  }
  const head = variants[one] ?? {};
  return {
    ...head,
    unit: `deliveries/s (PushToRoom of ${FRAME_BYTES} B to one room of ${n}; see variants)`,
    subscribers: n,
    rooms: nRooms,
    perRoom,
    messages,
    rounds,
    samples,
    frameBytes: FRAME_BYTES,
    variants,
    ratios,
    timeToAllMs: timeToAll,
    joinMs,
    problems,
  };
}
