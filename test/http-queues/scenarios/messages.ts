import { OTHER_CLIENT_ID } from '../queue-api-client.js';
import type { ZaqarScenario } from '../zaqar-scenario.js';

/** Posting a batch, then reading it back: echo, markers and next links, by id and by ids. */
export const postAndList: ZaqarScenario = {
  name: 'post-and-list',
  run: async (api, see) => {
    const posted = await api.post('/v2/queues/feed/messages', {
      messages: [
        { body: { event: 'a' }, ttl: 300 },
        { body: 'b' },
        { body: null, ttl: 60 },
        { body: [1, 2.5, true], ttl: 1_209_600 },
      ],
    });
    const own = await api.get('/v2/queues/feed/messages');
    const echoed = await api.get('/v2/queues/feed/messages?echo=true&limit=3');
    const nextHref = (echoed.body as { links: Array<{ href: string }> }).links[0]?.href ?? '';
    const rest = await api.get(nextHref);
    const restHref = (rest.body as { links: Array<{ href: string }> }).links[0]?.href ?? '';
    const end = await api.get(restHref);
    const other = await api.as(OTHER_CLIENT_ID).get('/v2/queues/feed/messages?limit=2');
    const ids = (posted.body as { resources: string[] }).resources.map((h) => h.split('/').pop());
    const one = await api.get(`/v2/queues/feed/messages/${ids[1]}`);
    const some = await api.get(`/v2/queues/feed/messages?ids=${ids[2]},nonsense,${ids[0]}`);
    return {
      posted: see.response(posted, ['location']),
      own: see.response(own),
      echoed: see.response(echoed),
      rest: see.response(rest),
      end: see.response(end),
      other: see.response(other),
      one: see.response(one),
      some: see.response(some),
      unknownIds: see.response(await api.get('/v2/queues/feed/messages?ids=nonsense')),
      tooManyIds: see.response(
        await api.get(
          `/v2/queues/feed/messages?ids=${Array.from({ length: 21 }, (_, i) => `x${i}`).join(',')}`,
        ),
      ),
      unknownOne: see.response(await api.get('/v2/queues/feed/messages/nonsense')),
      missingQueueOne: see.response(await api.get(`/v2/queues/no-feed/messages/${ids[0]}`)),
      missingQueueList: see.response(await api.get('/v2/queues/no-feed/messages')),
      limitZero: see.response(await api.get('/v2/queues/feed/messages?limit=0')),
      limitHuge: see.response(await api.get('/v2/queues/feed/messages?limit=21')),
      echoBad: see.response(await api.get('/v2/queues/feed/messages?echo=perhaps')),
    };
  },
  expected: {
    posted: {
      status: 201,
      body: {
        resources: [
          '/v2/queues/feed/messages/<id1>',
          '/v2/queues/feed/messages/<id2>',
          '/v2/queues/feed/messages/<id3>',
          '/v2/queues/feed/messages/<id4>',
        ],
      },
      location: '/v2/queues/feed/messages?ids=<id1>,<id2>,<id3>,<id4>',
    },
    own: { status: 200, body: { messages: [], links: [] } },
    echoed: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/feed/messages/<id1>', ttl: 300, age: 'age', body: { event: 'a' } },
          { id: '<id2>', href: '/v2/queues/feed/messages/<id2>', ttl: 3600, age: 'age', body: 'b' },
          { id: '<id3>', href: '/v2/queues/feed/messages/<id3>', ttl: 60, age: 'age', body: null },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/feed/messages?limit=3&echo=true&include_delayed=true&marker=<id3>',
          },
        ],
      },
    },
    rest: {
      status: 200,
      body: {
        messages: [
          {
            id: '<id4>',
            href: '/v2/queues/feed/messages/<id4>',
            ttl: 1209600,
            age: 'age',
            body: [1, 2.5, true],
          },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/feed/messages?marker=<id4>&limit=3&echo=true&include_delayed=true',
          },
        ],
      },
    },
    end: { status: 200, body: { messages: [], links: [] } },
    other: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/feed/messages/<id1>', ttl: 300, age: 'age', body: { event: 'a' } },
          { id: '<id2>', href: '/v2/queues/feed/messages/<id2>', ttl: 3600, age: 'age', body: 'b' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/feed/messages?limit=2&include_delayed=true&marker=<id2>' }],
      },
    },
    one: {
      status: 200,
      body: { id: '<id2>', href: '/v2/queues/feed/messages/<id2>', ttl: 3600, age: 'age', body: 'b' },
    },
    some: {
      status: 200,
      body: {
        messages: [
          { id: '<id3>', href: '/v2/queues/feed/messages/<id3>', ttl: 60, age: 'age', body: null },
          { id: '<id1>', href: '/v2/queues/feed/messages/<id1>', ttl: 300, age: 'age', body: { event: 'a' } },
        ],
      },
    },
    unknownIds: {
      status: 404,
      body: {
        title: 'Not found',
        description:
          "No messages with IDs: ['nonsense'] found in the queue feed for project zq-post-and-list.",
      },
    },
    tooManyIds: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'Limit must be at least 1 and may not be greater than 20.',
      },
    },
    unknownOne: {
      status: 404,
      body: {
        title: 'Not found',
        description: 'Message nonsense does not exist in queue feed for project zq-post-and-list',
      },
    },
    missingQueueOne: {
      status: 404,
      body: { title: 'Not found', description: 'Queue no-feed does not exist for project zq-post-and-list' },
    },
    missingQueueList: { status: 200, body: { messages: [], links: [] } },
    limitZero: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'Limit must be at least 1 and may not be greater than 20.',
      },
    },
    limitHuge: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'Limit must be at least 1 and may not be greater than 20.',
      },
    },
    echoBad: {
      status: 400,
      body: {
        title: 'Invalid parameter',
        description: 'The "echo" parameter is invalid. The value of the parameter must be "true" or "false".',
      },
    },
  },
};

/** A POST to a queue that does not exist makes it (Zaqar's lazy queues), with the default TTL. */
export const lazyQueue: ZaqarScenario = {
  name: 'lazy-queue',
  run: async (api, see) => {
    const before = await api.get('/v2/queues');
    await api.postMessages('made-by-post', [{ body: 1 }]);
    const after = await api.get('/v2/queues?detailed=true');
    const listed = await api.get('/v2/queues/made-by-post/messages?echo=true');
    await api.put('/v2/queues/short-ttl', { _default_message_ttl: 90 });
    await api.postMessages('short-ttl', [{ body: 'x' }, { body: 'y', ttl: 70 }]);
    const shortTtl = await api.get('/v2/queues/short-ttl/messages?echo=true');
    return {
      before: see.response(before),
      after: see.response(after),
      listed: see.response(listed),
      shortTtl: see.response(shortTtl),
    };
  },
  expected: {
    before: { status: 200, body: { queues: [], links: [] } },
    after: {
      status: 200,
      body: {
        queues: [
          {
            name: 'made-by-post',
            metadata: {
              _max_messages_post_size: 262144,
              _default_message_ttl: 3600,
              _default_message_delay: 0,
              _dead_letter_queue: null,
              _dead_letter_queue_messages_ttl: null,
              _max_claim_count: null,
              _enable_encrypt_messages: false,
            },
            href: '/v2/queues/made-by-post',
          },
        ],
        links: [{ rel: 'next', href: '/v2/queues?detailed=true&marker=made-by-post' }],
      },
    },
    listed: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/made-by-post/messages/<id1>', ttl: 3600, age: 'age', body: 1 },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/made-by-post/messages?echo=true&include_delayed=true&marker=<id1>',
          },
        ],
      },
    },
    shortTtl: {
      status: 200,
      body: {
        messages: [
          { id: '<id2>', href: '/v2/queues/short-ttl/messages/<id2>', ttl: 90, age: 'age', body: 'x' },
          { id: '<id3>', href: '/v2/queues/short-ttl/messages/<id3>', ttl: 70, age: 'age', body: 'y' },
        ],
        links: [
          { rel: 'next', href: '/v2/queues/short-ttl/messages?echo=true&include_delayed=true&marker=<id3>' },
        ],
      },
    },
  },
};

/** What a POST of messages must look like. */
export const postChecks: ZaqarScenario = {
  name: 'post-checks',
  run: async (api, see) => {
    const post = async (body: unknown) => see.response(await api.post('/v2/queues/strict/messages', body));
    return {
      emptyList: await post({ messages: [] }),
      noBody: await post({ messages: [{ ttl: 60 }] }),
      ttlLow: await post({ messages: [{ body: 1, ttl: 59 }] }),
      ttlHigh: await post({ messages: [{ body: 1, ttl: 1_209_601 }] }),
      ttlFloat: await post({ messages: [{ body: 1, ttl: 61.5 }] }),
      ttlText: await post({ messages: [{ body: 1, ttl: '60' }] }),
      ttlNull: await post({ messages: [{ body: 1, ttl: null }] }),
      ttlBool: await post({ messages: [{ body: 1, ttl: true }] }),
      // Field types are checked for every message before any TTL range.
      typeBeforeRange: await post({
        messages: [
          { body: 1, ttl: 5 },
          { body: 2, ttl: 'x' },
        ],
      }),
      messagesObject: await post({ messages: {} }),
      noMessagesKey: await post({ other: [] }),
      topLevelArray: await post([{ body: 1 }]),
      topLevelString: await post('"text"'),
      malformed: await post('{"messages": ['),
      notUtf8: await post(Buffer.from([0x7b, 0xff, 0x7d])),
      hugeInteger: await post('{"messages": [{"body": 1, "ttl": 99999999999999999999}]}'),
      noBodyAtAll: see.response(await api.request('POST', '/v2/queues/strict/messages')),
      tooLarge: await post({ messages: [{ body: 'x'.repeat(262_200) }] }),
      badQueueName: see.response(
        await api.post('/v2/queues/bad%20name/messages', { messages: [{ body: 1 }] }),
      ),
      longQueueName: see.response(
        await api.post(`/v2/queues/${'q'.repeat(65)}/messages`, { messages: [{ body: 1 }] }),
      ),
      nothingPosted: see.response(await api.get('/v2/queues/strict/stats')),
    };
  },
  expected: {
    emptyList: { status: 400, body: { title: 'Invalid API request', description: 'No messages to enqueu.' } },
    noBody: { status: 400, body: { title: 'Invalid request body', description: 'Missing "body" field.' } },
    ttlLow: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long.',
      },
    },
    ttlHigh: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long.',
      },
    },
    ttlFloat: {
      status: 400,
      body: { title: 'Invalid request body', description: 'The value of the "ttl" field must be a int.' },
    },
    ttlText: {
      status: 400,
      body: { title: 'Invalid request body', description: 'The value of the "ttl" field must be a int.' },
    },
    ttlNull: {
      status: 400,
      body: { title: 'Invalid request body', description: 'The value of the "ttl" field must be a int.' },
    },
    ttlBool: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long.',
      },
    },
    typeBeforeRange: {
      status: 400,
      body: { title: 'Invalid request body', description: 'The value of the "ttl" field must be a int.' },
    },
    messagesObject: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Document type not supported.' },
    },
    noMessagesKey: {
      status: 400,
      body: { title: 'Invalid API request', description: 'No messages were found in the request body.' },
    },
    topLevelArray: {
      status: 400,
      body: { title: 'Invalid API request', description: 'No messages were found in the request body.' },
    },
    topLevelString: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
    malformed: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
    notUtf8: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
    hugeInteger: {
      status: 400,
      body: { title: 'Invalid request body', description: 'JSON contains integer that is too large.' },
    },
    noBodyAtAll: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
    tooLarge: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'Message collection size is too large. Max size 262144',
      },
    },
    badQueueName: {
      status: 400,
      body: {
        title: 'Invalid queue identification',
        description: 'The format of the submitted queue name or project id is not valid.',
      },
    },
    longQueueName: {
      status: 400,
      body: {
        title: 'Invalid queue identification',
        description: 'The format of the submitted queue name or project id is not valid.',
      },
    },
    nothingPosted: { status: 200, body: { messages: { claimed: 0, free: 0, total: 0 } } },
  },
};

/**
 * include_claimed lists claimed messages too, each href naming its claim. Zaqar's redis store answers 503
 * to include_claimed without a marker (it asks redis for the rank of no message), and restarts from the
 * beginning after a marker that names the first message (rank 0 reads as "no rank").
 */
export const listIncludeClaimed: ZaqarScenario = {
  name: 'list-include-claimed',
  run: async (api, see) => {
    const [a, b] = await api.postMessages('mixed', [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    await api.claim('mixed', { ttl: 120, grace: 60 }, 1);
    const other = api.as(OTHER_CLIENT_ID);
    return {
      unclaimedOnly: see.response(await other.get('/v2/queues/mixed/messages')),
      withClaimed: see.response(await other.get('/v2/queues/mixed/messages?include_claimed=true')),
      afterFirst: see.response(await other.get(`/v2/queues/mixed/messages?include_claimed=true&marker=${a}`)),
      afterSecond: see.response(
        await other.get(`/v2/queues/mixed/messages?include_claimed=true&marker=${b}`),
      ),
    };
  },
  expected: {
    unclaimedOnly: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/mixed/messages/<id1>', ttl: 3600, age: 'age', body: 'b' },
          { id: '<id2>', href: '/v2/queues/mixed/messages/<id2>', ttl: 3600, age: 'age', body: 'c' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/mixed/messages?include_delayed=true&marker=<id2>' }],
      },
    },
    withClaimed: {
      status: 200,
      body: {
        messages: [
          {
            id: '<id3>',
            href: '/v2/queues/mixed/messages/<id3>?claim_id=<id4>',
            ttl: 3600,
            age: 'age',
            body: 'a',
          },
          { id: '<id1>', href: '/v2/queues/mixed/messages/<id1>', ttl: 3600, age: 'age', body: 'b' },
          { id: '<id2>', href: '/v2/queues/mixed/messages/<id2>', ttl: 3600, age: 'age', body: 'c' },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/mixed/messages?include_claimed=true&include_delayed=true&marker=<id2>',
          },
        ],
      },
    },
    afterFirst: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/mixed/messages/<id1>', ttl: 3600, age: 'age', body: 'b' },
          { id: '<id2>', href: '/v2/queues/mixed/messages/<id2>', ttl: 3600, age: 'age', body: 'c' },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/mixed/messages?marker=<id2>&include_claimed=true&include_delayed=true',
          },
        ],
      },
    },
    afterSecond: {
      status: 200,
      body: {
        messages: [
          { id: '<id2>', href: '/v2/queues/mixed/messages/<id2>', ttl: 3600, age: 'age', body: 'c' },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/mixed/messages?marker=<id2>&include_claimed=true&include_delayed=true',
          },
        ],
      },
    },
  },
  zaqar: {
    unclaimedOnly: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/mixed/messages/<id1>', ttl: 3600, age: 'age', body: 'b' },
          { id: '<id2>', href: '/v2/queues/mixed/messages/<id2>', ttl: 3600, age: 'age', body: 'c' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/mixed/messages?include_delayed=true&marker=<id2>' }],
      },
    },
    withClaimed: {
      status: 503,
      body: {
        title: 'Service temporarily unavailable',
        description: 'Messages could not be listed. Please try again in a few seconds.',
      },
    },
    afterFirst: {
      status: 200,
      body: {
        messages: [
          {
            id: '<id3>',
            href: '/v2/queues/mixed/messages/<id3>?claim_id=<id4>',
            ttl: 3600,
            age: 'age',
            body: 'a',
          },
          { id: '<id1>', href: '/v2/queues/mixed/messages/<id1>', ttl: 3600, age: 'age', body: 'b' },
          { id: '<id2>', href: '/v2/queues/mixed/messages/<id2>', ttl: 3600, age: 'age', body: 'c' },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/mixed/messages?marker=<id2>&include_claimed=true&include_delayed=true',
          },
        ],
      },
    },
    afterSecond: {
      status: 200,
      body: {
        messages: [
          { id: '<id2>', href: '/v2/queues/mixed/messages/<id2>', ttl: 3600, age: 'age', body: 'c' },
        ],
        links: [
          {
            rel: 'next',
            href: '/v2/queues/mixed/messages?marker=<id2>&include_claimed=true&include_delayed=true',
          },
        ],
      },
    },
  },
};

/**
 * Delayed queues: on a queue with _default_message_delay, messages wait that long (or their own delay) before
 * they can be claimed, popped or listed (listed early with include_delayed); a message's delay means
 * nothing on a queue without a default delay. Zaqar's redis claim script (a defect) claims every message
 * after the first claimable one, delayed or not, so it also takes 'custom' before its time.
 */
export const delayedMessages: ZaqarScenario = {
  name: 'delayed-messages',
  run: async (api, see) => {
    await api.put('/v2/queues/slow', { _default_message_delay: 300 });
    const posted = await api.post('/v2/queues/slow/messages', {
      messages: [{ body: 'later' }, { body: 'now', delay: 0 }, { body: 'custom', delay: 600 }],
    });
    const ids = ((posted.body as { resources?: string[] }).resources ?? []).map((h) => h.split('/').pop());
    const other = api.as(OTHER_CLIENT_ID);
    const observation = {
      posted: see.response(posted),
      listed: see.response(await other.get('/v2/queues/slow/messages')),
      listedDelayed: see.response(await other.get('/v2/queues/slow/messages?include_delayed=true')),
      byId: see.response(await api.get(`/v2/queues/slow/messages/${ids[0]}`)),
      claimed: see.response(await api.post('/v2/queues/slow/claims?limit=5', { ttl: 60, grace: 60 })),
      popped: see.response(await api.delete('/v2/queues/slow/messages?pop=5')),
      stats: see.response(await api.get('/v2/queues/slow/stats')),
      delayTooLong: see.response(
        await api.post('/v2/queues/slow/messages', { messages: [{ body: 1, delay: 901 }] }),
      ),
      delayText: see.response(
        await api.post('/v2/queues/slow/messages', { messages: [{ body: 1, delay: 'x' }] }),
      ),
      metadataDelayTooLong: see.response(await api.put('/v2/queues/slower', { _default_message_delay: 901 })),
    };
    await api.postMessages('quick', [{ body: 'ignored delay', delay: 600 }]);
    return { ...observation, quick: see.response(await other.get('/v2/queues/quick/messages')) };
  },
  zaqar: {
    posted: {
      status: 201,
      body: {
        resources: [
          '/v2/queues/slow/messages/<id1>',
          '/v2/queues/slow/messages/<id2>',
          '/v2/queues/slow/messages/<id3>',
        ],
      },
    },
    listed: {
      status: 200,
      body: {
        messages: [
          { id: '<id2>', href: '/v2/queues/slow/messages/<id2>', ttl: 3600, age: 'age', body: 'now' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/slow/messages?marker=<id2>' }],
      },
    },
    listedDelayed: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/slow/messages/<id1>', ttl: 3600, age: 'age', body: 'later' },
          { id: '<id2>', href: '/v2/queues/slow/messages/<id2>', ttl: 3600, age: 'age', body: 'now' },
          { id: '<id3>', href: '/v2/queues/slow/messages/<id3>', ttl: 3600, age: 'age', body: 'custom' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/slow/messages?include_delayed=true&marker=<id3>' }],
      },
    },
    byId: {
      status: 200,
      body: { id: '<id1>', href: '/v2/queues/slow/messages/<id1>', ttl: 3600, age: 'age', body: 'later' },
    },
    claimed: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id2>',
            href: '/v2/queues/slow/messages/<id2>?claim_id=<id4>',
            ttl: 3600,
            age: 'age',
            body: 'now',
          },
          {
            id: '<id3>',
            href: '/v2/queues/slow/messages/<id3>?claim_id=<id4>',
            ttl: 3600,
            age: 'age',
            body: 'custom',
          },
        ],
      },
    },
    popped: { status: 200, body: { messages: [] } },
    stats: {
      status: 200,
      body: {
        messages: {
          claimed: 2,
          free: 1,
          total: 3,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 'custom',
            claim_id: '<id4>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/slow/messages/<id3>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 'later',
            claim_id: null,
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/slow/messages/<id1>',
          },
        },
      },
    },
    delayTooLong: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The Delay TTL for a message may not exceed 900 seconds,and must be at least 0 seconds long.',
      },
    },
    delayText: {
      status: 400,
      body: { title: 'Invalid request body', description: 'The value of the "delay" field must be a int.' },
    },
    metadataDelayTooLong: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'The TTL can not exceed 900 seconds, and must be at least 0 seconds long.',
      },
    },
    quick: {
      status: 200,
      body: {
        messages: [
          {
            id: '<id5>',
            href: '/v2/queues/quick/messages/<id5>',
            ttl: 3600,
            age: 'age',
            body: 'ignored delay',
          },
        ],
        links: [{ rel: 'next', href: '/v2/queues/quick/messages?include_delayed=true&marker=<id5>' }],
      },
    },
  },
  expected: {
    posted: {
      status: 201,
      body: {
        resources: [
          '/v2/queues/slow/messages/<id1>',
          '/v2/queues/slow/messages/<id2>',
          '/v2/queues/slow/messages/<id3>',
        ],
      },
    },
    listed: {
      status: 200,
      body: {
        messages: [
          { id: '<id2>', href: '/v2/queues/slow/messages/<id2>', ttl: 3600, age: 'age', body: 'now' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/slow/messages?marker=<id2>' }],
      },
    },
    listedDelayed: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/slow/messages/<id1>', ttl: 3600, age: 'age', body: 'later' },
          { id: '<id2>', href: '/v2/queues/slow/messages/<id2>', ttl: 3600, age: 'age', body: 'now' },
          { id: '<id3>', href: '/v2/queues/slow/messages/<id3>', ttl: 3600, age: 'age', body: 'custom' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/slow/messages?include_delayed=true&marker=<id3>' }],
      },
    },
    byId: {
      status: 200,
      body: { id: '<id1>', href: '/v2/queues/slow/messages/<id1>', ttl: 3600, age: 'age', body: 'later' },
    },
    claimed: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id2>',
            href: '/v2/queues/slow/messages/<id2>?claim_id=<id4>',
            ttl: 3600,
            age: 'age',
            body: 'now',
          },
        ],
      },
    },
    popped: { status: 200, body: { messages: [] } },
    stats: {
      status: 200,
      body: {
        messages: {
          claimed: 1,
          free: 2,
          total: 3,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 'custom',
            claim_id: null,
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/slow/messages/<id3>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 'later',
            claim_id: null,
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/slow/messages/<id1>',
          },
        },
      },
    },
    delayTooLong: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The Delay TTL for a message may not exceed 900 seconds,and must be at least 0 seconds long.',
      },
    },
    delayText: {
      status: 400,
      body: { title: 'Invalid request body', description: 'The value of the "delay" field must be a int.' },
    },
    metadataDelayTooLong: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'The TTL can not exceed 900 seconds, and must be at least 0 seconds long.',
      },
    },
    quick: {
      status: 200,
      body: {
        messages: [
          {
            id: '<id5>',
            href: '/v2/queues/quick/messages/<id5>',
            ttl: 3600,
            age: 'age',
            body: 'ignored delay',
          },
        ],
        links: [{ rel: 'next', href: '/v2/queues/quick/messages?include_delayed=true&marker=<id5>' }],
      },
    },
  },
};

/** Deleting by ids (claimed or not) and popping. */
export const deleteAndPop: ZaqarScenario = {
  name: 'delete-and-pop',
  run: async (api, see) => {
    const ids = await api.postMessages(
      'work',
      [1, 2, 3, 4, 5, 6].map((n) => ({ body: n })),
    );
    await api.claim('work', { ttl: 120, grace: 60 }, 1);
    const deleted = await api.delete(`/v2/queues/work/messages?ids=${ids[0]},${ids[2]},nonsense`);
    const afterDelete = await api.get('/v2/queues/work/stats');
    const popped = await api.delete('/v2/queues/work/messages?pop=2');
    const poppedRest = await api.delete('/v2/queues/work/messages?pop=20');
    const poppedNone = await api.delete('/v2/queues/work/messages?pop=1');
    return {
      deleted: see.response(deleted),
      afterDelete: see.response(afterDelete),
      popped: see.response(popped),
      poppedRest: see.response(poppedRest),
      poppedNone: see.response(poppedNone),
      popMissingQueue: see.response(await api.delete('/v2/queues/no-work/messages?pop=1')),
      deleteMissingQueue: see.response(await api.delete(`/v2/queues/no-work/messages?ids=${ids[1]}`)),
      neither: see.response(await api.delete('/v2/queues/work/messages')),
      both: see.response(await api.delete(`/v2/queues/work/messages?pop=1&ids=${ids[1]}`)),
      popZero: see.response(await api.delete('/v2/queues/work/messages?pop=0')),
      popHuge: see.response(await api.delete('/v2/queues/work/messages?pop=21')),
      popText: see.response(await api.delete('/v2/queues/work/messages?pop=all')),
      tooManyIds: see.response(
        await api.delete(
          `/v2/queues/work/messages?ids=${Array.from({ length: 21 }, (_, i) => `x${i}`).join(',')}`,
        ),
      ),
    };
  },
  expected: {
    deleted: { status: 204 },
    afterDelete: {
      status: 200,
      body: {
        messages: {
          claimed: 0,
          free: 4,
          total: 4,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 6,
            claim_id: null,
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/work/messages/<id1>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 2,
            claim_id: null,
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/work/messages/<id2>',
          },
        },
      },
    },
    popped: {
      status: 200,
      body: {
        messages: [
          { id: '<id2>', age: 'age', ttl: 3600, body: 2, claim_id: '<id3>', claim_count: 0 },
          { id: '<id4>', age: 'age', ttl: 3600, body: 4, claim_id: '<id3>', claim_count: 0 },
        ],
      },
    },
    poppedRest: {
      status: 200,
      body: {
        messages: [
          { id: '<id5>', age: 'age', ttl: 3600, body: 5, claim_id: '<id6>', claim_count: 0 },
          { id: '<id1>', age: 'age', ttl: 3600, body: 6, claim_id: '<id6>', claim_count: 0 },
        ],
      },
    },
    poppedNone: { status: 200, body: { messages: [] } },
    popMissingQueue: { status: 200, body: { messages: [] } },
    deleteMissingQueue: { status: 204 },
    neither: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The request should have either "ids" or "pop" parameter in the request, to be able to delete.',
      },
    },
    both: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'pop and id params cannot be present together in the delete request.',
      },
    },
    popZero: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'Pop value must be at least 1 and may not be greater than 20.',
      },
    },
    popHuge: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'Pop value must be at least 1 and may not be greater than 20.',
      },
    },
    popText: {
      status: 400,
      body: {
        title: 'Invalid parameter',
        description: 'The "pop" parameter is invalid. The value must be an integer.',
      },
    },
    tooManyIds: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'ids parameter should have at least 1 and not greater than 20 values.',
      },
    },
  },
};

export const messageScenarios = [
  postAndList,
  listIncludeClaimed,
  lazyQueue,
  postChecks,
  deleteAndPop,
  delayedMessages,
];
