/**
 * The SDK's types: what `notify` and `notifyMany` accept is `NotificationInput`, so a misspelt
 * field, a wrong type or an unknown channel is a compile error (tsc -p tsconfig.test.json checks
 * every `@ts-expect-error` below: one that no longer marks an error fails the build), and every
 * answer and record type comes from the package entry. The same mistakes made from JavaScript are
 * refused at run time with the HTTP 400's code and details.
 */
import { afterAll, describe, expect, expectTypeOf, it, inject } from 'vitest';
import {
  Herald,
  HeraldError,
  type Attempt,
  type BatchResult,
  type ChannelName,
  type DeadLetter,
  type DeadLetterPage,
  type EnqueueResult,
  type NotificationInput,
  type NotificationStatus,
  type Recipient,
  type Stats,
  type Status,
  type WebPushSubscriptionInfo,
} from '../../src/index.js';
import { testPrefix } from '../helpers/harness.js';

const herald = new Herald({ redis: inject('redisUrl'), prefix: testPrefix() });
afterAll(() => herald.close());

describe('the SDK types', () => {
  it('gives every call its answer type from the package entry', () => {
    expectTypeOf(herald.notify).parameter(0).toEqualTypeOf<NotificationInput>();
    expectTypeOf(herald.notify).returns.resolves.toEqualTypeOf<EnqueueResult>();
    expectTypeOf(herald.notifyMany).parameter(0).toEqualTypeOf<readonly NotificationInput[]>();
    expectTypeOf(herald.notifyMany).returns.resolves.toEqualTypeOf<BatchResult[]>();
    expectTypeOf(herald.status).returns.resolves.toEqualTypeOf<Status | null>();
    expectTypeOf(herald.cancel).returns.resolves.toEqualTypeOf<Status>();
    expectTypeOf(herald.cancelGroup).returns.resolves.toEqualTypeOf<number>();
    expectTypeOf(herald.recipients.get).returns.resolves.toEqualTypeOf<Recipient | null>();
    expectTypeOf(herald.deadLetters.list).returns.resolves.toEqualTypeOf<DeadLetterPage>();
    expectTypeOf(herald.deadLetters.get).returns.resolves.toEqualTypeOf<DeadLetter | null>();
    expectTypeOf(herald.stats).returns.resolves.toEqualTypeOf<Stats>();
    expectTypeOf<Status['attempts']>().toEqualTypeOf<Attempt[]>();
    expectTypeOf<Status['status']>().toEqualTypeOf<NotificationStatus>();
    expectTypeOf<'canceled'>().toExtend<NotificationStatus>();
    expectTypeOf<NonNullable<Recipient['webpush']>>().toEqualTypeOf<WebPushSubscriptionInfo[]>();
    expectTypeOf<Stats['notifications']['canceled']>().toEqualTypeOf<number>();
    expectTypeOf<NonNullable<NotificationInput['channels']>[number]>().toEqualTypeOf<ChannelName>();
    expectTypeOf<NotificationInput['groupKey']>().toEqualTypeOf<string | undefined>();
  });

  it('refuses, at compile time and at run time, a misspelt field, a wrong type and an unknown channel', async () => {
    const refused = async (call: Promise<unknown>) => {
      const err = await call.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HeraldError);
      expect((err as HeraldError).code).toBe('HERALD_ERR_VALIDATION');
      return (err as HeraldError).details.map((d) => d.field);
    };
    // @ts-expect-error `mesage` is not a field (and `message` is missing)
    expect(await refused(herald.notify({ to: 'u-42', mesage: 'Hello' }))).toEqual(expect.arrayContaining(['message']));
    // @ts-expect-error priority is a number from 0 to 10
    expect(await refused(herald.notify({ to: 'u-42', message: 'Hello', priority: 'high' }))).toEqual(['priority']);
    // @ts-expect-error sms is not a channel
    expect(await refused(herald.notify({ to: 'u-42', message: 'Hello', channels: ['sms'] }))).toEqual(['channels.0']);
    // @ts-expect-error groupKey is a string
    expect(await refused(herald.notify({ to: 'u-42', message: 'Hello', groupKey: 42 }))).toEqual(['groupKey']);

    // @ts-expect-error each item of notifyMany is a NotificationInput too
    const results = await herald.notifyMany([{ to: 'u-42', titel: 'Hi', message: 'Hello' }]);
    expect(results).toEqual([{ error: expect.objectContaining({ code: 'HERALD_ERR_VALIDATION' }) }]);
  });
});
