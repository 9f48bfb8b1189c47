import { afterEach, describe, expect, it, vi } from 'vitest';
import { LINGER_BELOW, TurnBatcher } from '../../src/turn-batcher.js';

/** The next turn of the event loop: past the check phase in which a batch of this turn runs. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A batcher whose run records every batch and answers each item with its own result. */
function recording(maxSize = 100, fail?: (items: string[]) => boolean, lingerMs = 0) {
  const batches: string[][] = [];
  const batcher = new TurnBatcher<string, string>(
    async (items) => {
      batches.push([...items]);
      if (fail?.(items)) throw new Error(`batch ${items.join(',')} failed`);
      return items.map((item) => `result of ${item}`);
    },
    maxSize,
    lingerMs,
  );
  return { batcher, batches };
}

describe('TurnBatcher', () => {
  it('runs the calls of one synchronous run and of the microtasks of the same turn as one batch, each caller getting its own result', async () => {
    const { batcher, batches } = recording();
    const calls: Promise<string>[] = [];
    calls.push(batcher.submit('a'), batcher.submit('b'));
    // Submitted from microtasks of the same turn, one of them after a chain of awaits.
    queueMicrotask(() => void calls.push(batcher.submit('c')));
    await Promise.resolve().then(() => calls.push(batcher.submit('d')));
    await (async () => {
      await Promise.resolve();
      await Promise.resolve();
      calls.push(batcher.submit('e'));
    })();
    // Nothing runs before the end of the turn.
    expect(batches).toEqual([]);

    const results = await Promise.all(calls);
    expect(batches).toEqual([['a', 'b', 'c', 'd', 'e']]);
    expect(results).toEqual(['result of a', 'result of b', 'result of c', 'result of d', 'result of e']);
  });

  it('maps results to callers by position even when the batch resolves them all at once', async () => {
    const batcher = new TurnBatcher<number, number>(async (items) => items.map((n) => n * n), 100);
    const results = await Promise.all([3, 1, 4, 1, 5, 9, 2, 6].map((n) => batcher.submit(n)));
    expect(results).toEqual([9, 1, 16, 1, 25, 81, 4, 36]);
  });

  it('runs a batch that reaches maxSize at once and puts the rest in a later batch', async () => {
    const { batcher, batches } = recording(3);
    const first = [batcher.submit('1'), batcher.submit('2')];
    expect(batches).toEqual([]);
    first.push(batcher.submit('3'));
    // The third call filled the batch: it ran synchronously, without waiting for the turn to end.
    expect(batches).toEqual([['1', '2', '3']]);
    const rest = [batcher.submit('4'), batcher.submit('5')];
    expect(batches).toHaveLength(1);

    expect(await Promise.all([...first, ...rest])).toEqual(['result of 1', 'result of 2', 'result of 3', 'result of 4', 'result of 5']);
    expect(batches).toEqual([
      ['1', '2', '3'],
      ['4', '5'],
    ]);
  });

  it('splits a long synchronous run into batches of maxSize', async () => {
    const { batcher, batches } = recording(4);
    const items = Array.from({ length: 10 }, (_, i) => `i${i}`);
    const results = await Promise.all(items.map((item) => batcher.submit(item)));
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(batches.flat()).toEqual(items);
    expect(results).toEqual(items.map((item) => `result of ${item}`));
  });

  it('rejects every caller of a failing batch with its error, and a later batch still works', async () => {
    const { batcher, batches } = recording(100, (items) => items.includes('bad'));
    const failing = [batcher.submit('x'), batcher.submit('bad'), batcher.submit('y')].map((p) =>
      p.then(
        () => 'resolved',
        (err: unknown) => (err as Error).message,
      ),
    );
    expect(await Promise.all(failing)).toEqual(['batch x,bad,y failed', 'batch x,bad,y failed', 'batch x,bad,y failed']);

    const later = await Promise.all([batcher.submit('p'), batcher.submit('q')]);
    expect(later).toEqual(['result of p', 'result of q']);
    expect(batches).toEqual([
      ['x', 'bad', 'y'],
      ['p', 'q'],
    ]);
  });

  it('keeps calls of different turns in separate batches (after setImmediate, after a timer)', async () => {
    const { batcher, batches } = recording();
    const a = batcher.submit('a');
    await nextTurn();
    // The first batch already ran, in the check phase of its own turn.
    expect(batches).toEqual([['a']]);
    const b = batcher.submit('b');
    const c = batcher.submit('c');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const d = batcher.submit('d');
    expect(await Promise.all([a, b, c, d])).toEqual(['result of a', 'result of b', 'result of c', 'result of d']);
    expect(batches).toEqual([['a'], ['b', 'c'], ['d']]);
  });

  it('does not hold a batch back while an earlier batch is still running', async () => {
    let releaseFirst!: () => void;
    const gate = new Promise<void>((resolve) => (releaseFirst = resolve));
    const batches: string[][] = [];
    const batcher = new TurnBatcher<string, string>(async (items) => {
      batches.push(items);
      if (items.includes('slow')) await gate;
      return items;
    }, 100);
    const slow = batcher.submit('slow');
    await nextTurn();
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timed out'), 1000));
    const fast = await Promise.race([batcher.submit('fast'), timeout]);
    expect(fast).toBe('fast');
    expect(batches).toEqual([['slow'], ['fast']]);
    releaseFirst();
    expect(await slow).toBe('slow');
  });

  it('fails every caller when the batch throws before it starts or answers the wrong number of results', async () => {
    const throwing = new TurnBatcher<string, string>(() => {
      throw new Error('cannot start');
    }, 100);
    const thrown = await Promise.allSettled([throwing.submit('a'), throwing.submit('b')]);
    expect(thrown.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual(['cannot start', 'cannot start']);

    const short = new TurnBatcher<string, string>(async (items) => items.slice(1), 100);
    const answered = await Promise.allSettled([short.submit('a'), short.submit('b')]);
    expect(answered.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual([
      'a batch of 2 answered 1 results',
      'a batch of 2 answered 1 results',
    ]);
  });
});

describe('TurnBatcher with a linger', () => {
  // The clock is the test's: the linger is checked as behaviour (what runs with what), not timed.
  afterEach(() => {
    vi.useRealTimers();
  });
  const fakeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'setImmediate', 'performance'] });

  it('after a batch of several items, gathers what arrives within the linger into one batch', async () => {
    fakeClock();
    const { batcher, batches } = recording(100, undefined, 5);
    const first = [batcher.submit('a'), batcher.submit('b')];
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([['a', 'b']]);
    await Promise.all(first);

    // 1 ms later, then 3 ms later: both wait for the end of the 5 ms that followed [a, b].
    await vi.advanceTimersByTimeAsync(1);
    const c = batcher.submit('c');
    await vi.advanceTimersByTimeAsync(2);
    const d = batcher.submit('d');
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([['a', 'b']]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(await Promise.all([c, d])).toEqual(['result of c', 'result of d']);
  });

  it('never makes a lone caller, awaiting each call in turn, wait', async () => {
    fakeClock();
    const { batcher, batches } = recording(100, undefined, 5);
    for (const item of ['a', 'b', 'c']) {
      const result = batcher.submit(item);
      // The end of this turn is enough: no timer has to fire.
      await vi.advanceTimersByTimeAsync(0);
      expect(batches.at(-1)).toEqual([item]);
      await result;
    }
    expect(batches).toEqual([['a'], ['b'], ['c']]);
  });

  it('does not wait once the linger has passed, nor when a full batch is reached', async () => {
    fakeClock();
    const { batcher, batches } = recording(3, undefined, 5);
    await Promise.all([batcher.submit('a'), batcher.submit('b'), vi.advanceTimersByTimeAsync(0)]);
    await vi.advanceTimersByTimeAsync(6);
    const late = batcher.submit('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([['a', 'b'], ['late']]);
    await late;

    // Right after a new shared batch, a full batch still runs at once.
    await Promise.all([batcher.submit('x'), batcher.submit('y'), vi.advanceTimersByTimeAsync(0)]);
    const full = [batcher.submit('1'), batcher.submit('2'), batcher.submit('3')];
    expect(batches.at(-1)).toEqual(['1', '2', '3']);
    await Promise.all(full);
  });

  it('stops lingering once the waiting batch is large enough to need no more company, and runs it with the rest of its turn', async () => {
    fakeClock();
    const { batcher, batches } = recording(100, undefined, 5);
    await Promise.all([batcher.submit('a'), batcher.submit('b'), vi.advanceTimersByTimeAsync(0)]);

    // 1 ms later the batch lingers; it fills up over two turns, the second bringing more than enough.
    await vi.advanceTimersByTimeAsync(1);
    const few = Array.from({ length: LINGER_BELOW - 5 }, (_, i) => `f${i}`);
    const more = Array.from({ length: 10 }, (_, i) => `m${i}`);
    const calls = few.map((item) => batcher.submit(item));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toHaveLength(1);
    calls.push(...more.map((item) => batcher.submit(item)));
    // Not before the end of this turn, and then with every call of it, 1 ms into a 5 ms linger.
    expect(batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([
      ['a', 'b'],
      [...few, ...more],
    ]);
    await Promise.all(calls);

    // The linger's own timer no longer runs a batch: a later call, with no linger owed, runs alone at the end of its turn.
    const late = batcher.submit('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(batches.at(-1)).toEqual(['late']);
    await late;
  });

  it('does not wait after a batch large enough to need no company', async () => {
    fakeClock();
    const { batcher, batches } = recording(100, undefined, 5);
    const many = Array.from({ length: LINGER_BELOW }, (_, i) => `m${i}`);
    await Promise.all([...many.map((item) => batcher.submit(item)), vi.advanceTimersByTimeAsync(0)]);
    const next = batcher.submit('next');
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([many, ['next']]);
    await next;
  });
});
