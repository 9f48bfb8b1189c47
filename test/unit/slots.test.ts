import { describe, expect, it } from 'vitest';
import { Slots } from '../../src/delivery/slots.js';

/** Lets every pending promise callback run (several microtask hops), without leaving the turn. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Starts acquiring a slot and records, in `order`, when the caller got it. */
function acquireAs(slots: Slots, name: string, order: string[]): Promise<() => void> {
  return slots.acquire().then((release) => {
    order.push(name);
    return release;
  });
}

describe('Slots', () => {
  it('never has more than `size` holders, however many callers contend', async () => {
    const slots = new Slots(3);
    let holding = 0;
    let most = 0;
    let done = 0;
    // Each task holds its slot for a different number of turns, so releases interleave with acquires.
    const tasks = Array.from({ length: 25 }, async (_, i) => {
      const release = await slots.acquire();
      holding++;
      most = Math.max(most, holding);
      expect(holding).toBeLessThanOrEqual(3);
      for (let turn = 0; turn < (i * 7) % 5; turn++) await new Promise((r) => setImmediate(r));
      holding--;
      done++;
      release();
    });
    await Promise.all(tasks);
    expect(done).toBe(25);
    expect(most).toBe(3);
  });

  it('makes the caller past `size` wait until a slot is released', async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    const a = acquireAs(slots, 'a', order);
    const b = acquireAs(slots, 'b', order);
    const c = acquireAs(slots, 'c', order);
    await settle();
    expect(order).toEqual(['a', 'b']);
    (await a)();
    await settle();
    expect(order).toEqual(['a', 'b', 'c']);
    (await b)();
    (await c)();
  });

  it('serves waiters in arrival order', async () => {
    const slots = new Slots(1);
    const order: string[] = [];
    const holder = await acquireAs(slots, 'holder', order);
    const waiters = ['w1', 'w2', 'w3', 'w4'].map((name) => acquireAs(slots, name, order));
    await settle();
    expect(order).toEqual(['holder']);

    holder();
    await settle();
    expect(order).toEqual(['holder', 'w1']);
    // A caller arriving now queues behind w2..w4 even though w1 is about to release.
    const late = acquireAs(slots, 'late', order);
    for (const [i, waiter] of waiters.entries()) {
      (await waiter)();
      await settle();
      expect(order).toEqual(['holder', 'w1', 'w2', 'w3', 'w4', 'late'].slice(0, i + 3));
    }
    (await late)();
  });

  it('does not let a new caller overtake a waiter when a slot passes on', async () => {
    const slots = new Slots(1);
    const order: string[] = [];
    const holder = await acquireAs(slots, 'holder', order);
    const waiter = acquireAs(slots, 'waiter', order);
    await settle();
    // Released and immediately contended in the same synchronous run.
    holder();
    const newcomer = acquireAs(slots, 'newcomer', order);
    await settle();
    expect(order).toEqual(['holder', 'waiter']);
    (await waiter)();
    await settle();
    expect(order).toEqual(['holder', 'waiter', 'newcomer']);
    (await newcomer)();
  });

  it('frees one slot only when a release is called twice (no waiters)', async () => {
    const slots = new Slots(1);
    const order: string[] = [];
    const release = await slots.acquire();
    release();
    release();
    const first = acquireAs(slots, 'first', order);
    const second = acquireAs(slots, 'second', order);
    await settle();
    expect(order).toEqual(['first']);
    (await first)();
    await settle();
    expect(order).toEqual(['first', 'second']);
    (await second)();
  });

  it('passes the slot to one waiter only when a release is called twice (with waiters)', async () => {
    const slots = new Slots(1);
    const order: string[] = [];
    const release = await slots.acquire();
    const w1 = acquireAs(slots, 'w1', order);
    const w2 = acquireAs(slots, 'w2', order);
    await settle();
    release();
    release();
    await settle();
    expect(order).toEqual(['w1']);
    (await w1)();
    await settle();
    expect(order).toEqual(['w1', 'w2']);
    (await w2)();
  });

  it('take() takes a free slot at once and refuses when none is free; give() hands it to the first waiter', async () => {
    const slots = new Slots(1);
    expect(slots.take()).toBe(true);
    expect(slots.take()).toBe(false);
    const order: string[] = [];
    const first = slots.wait().then(() => order.push('first'));
    const second = slots.wait().then(() => order.push('second'));
    slots.give();
    await first;
    expect(order).toEqual(['first']);
    // The slot went to the waiter, not back to the pool: nobody can take it meanwhile.
    expect(slots.take()).toBe(false);
    slots.give();
    await second;
    expect(order).toEqual(['first', 'second']);
    slots.give();
    expect(slots.take()).toBe(true);
  });
});
