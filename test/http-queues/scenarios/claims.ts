import { OTHER_CLIENT_ID } from '../queue-api-client.js';
import type { ZaqarScenario } from '../zaqar-scenario.js';

/** Claims take the oldest unclaimed messages; 204 when there are none; get, renew and release. */
export const claimCycle: ZaqarScenario = {
  name: 'claim-cycle',
  run: async (api, see) => {
    await api.postMessages('jobs', [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    const first = await api.post('/v2/queues/jobs/claims?limit=2', { ttl: 120, grace: 60 });
    const second = await api.post('/v2/queues/jobs/claims', {});
    const none = await api.post('/v2/queues/jobs/claims', { ttl: 60, grace: 60 });
    const stats = await api.get('/v2/queues/jobs/stats');
    const firstId = (first.headers.get('location') ?? '').split('/').pop() ?? '';
    const got = await api.get(`/v2/queues/jobs/claims/${firstId}`);
    const renewed = await api.patch(`/v2/queues/jobs/claims/${firstId}`, { ttl: 300 });
    const afterRenew = await api.get(`/v2/queues/jobs/claims/${firstId}`);
    const visible = await api.as(OTHER_CLIENT_ID).get('/v2/queues/jobs/messages');
    const released = await api.delete(`/v2/queues/jobs/claims/${firstId}`);
    const gone = await api.get(`/v2/queues/jobs/claims/${firstId}`);
    const afterRelease = await api.as(OTHER_CLIENT_ID).get('/v2/queues/jobs/messages');
    return {
      first: see.response(first, ['location']),
      second: see.response(second),
      none: see.response(none),
      stats: see.response(stats),
      got: see.response(got),
      renewed: see.response(renewed),
      afterRenew: see.response(afterRenew),
      visible: see.response(visible),
      released: see.response(released),
      gone: see.response(gone),
      afterRelease: see.response(afterRelease),
      emptyQueueClaim: see.response(await api.post('/v2/queues/no-jobs/claims', {})),
    };
  },
  expected: {
    first: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/jobs/messages/<id1>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'a',
          },
          {
            id: '<id3>',
            href: '/v2/queues/jobs/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'b',
          },
        ],
      },
      location: '/v2/queues/jobs/claims/<id2>',
    },
    second: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id4>',
            href: '/v2/queues/jobs/messages/<id4>?claim_id=<id5>',
            ttl: 3600,
            age: 'age',
            body: 'c',
          },
        ],
      },
    },
    none: { status: 204 },
    stats: {
      status: 200,
      body: {
        messages: {
          claimed: 3,
          free: 0,
          total: 3,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 'c',
            claim_id: '<id5>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/jobs/messages/<id4>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 'a',
            claim_id: '<id2>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/jobs/messages/<id1>',
          },
        },
      },
    },
    got: {
      status: 200,
      body: {
        age: 'age',
        ttl: 120,
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/jobs/messages/<id1>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'a',
          },
          {
            id: '<id3>',
            href: '/v2/queues/jobs/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'b',
          },
        ],
        href: '/v2/queues/jobs/claims/<id2>',
      },
    },
    renewed: { status: 204 },
    afterRenew: {
      status: 200,
      body: {
        age: 'age',
        ttl: 300,
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/jobs/messages/<id1>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'a',
          },
          {
            id: '<id3>',
            href: '/v2/queues/jobs/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'b',
          },
        ],
        href: '/v2/queues/jobs/claims/<id2>',
      },
    },
    visible: { status: 200, body: { messages: [], links: [] } },
    released: { status: 204 },
    gone: {
      status: 404,
      body: {
        title: 'Not found',
        description: 'Claim <id2> does not exist in queue jobs for project zq-claim-cycle',
      },
    },
    afterRelease: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/jobs/messages/<id1>', ttl: 3600, age: 'age', body: 'a' },
          { id: '<id3>', href: '/v2/queues/jobs/messages/<id3>', ttl: 3600, age: 'age', body: 'b' },
        ],
        links: [{ rel: 'next', href: '/v2/queues/jobs/messages?include_delayed=true&marker=<id3>' }],
      },
    },
    emptyQueueClaim: { status: 204 },
  },
};

/**
 * A claim made after another was released takes the released messages, never those a live claim holds.
 * Zaqar's redis store has a defect here: its claim script assumes every message after the first unclaimed
 * one is unclaimed too, so it also takes the message the second, live claim holds.
 */
export const claimAfterRelease: ZaqarScenario = {
  name: 'claim-after-release',
  run: async (api, see) => {
    await api.postMessages('relay', [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    const first = await api.claim('relay', { ttl: 120, grace: 60 }, 2);
    await api.claim('relay', { ttl: 120, grace: 60 }, 1);
    await api.delete(`/v2/queues/relay/claims/${first.claimId}`);
    const reclaimed = await api.post('/v2/queues/relay/claims?limit=5', { ttl: 60, grace: 60 });
    return {
      reclaimed: see.response(reclaimed),
      stats: see.response(await api.get('/v2/queues/relay/stats')),
    };
  },
  expected: {
    reclaimed: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/relay/messages/<id1>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'a',
          },
          {
            id: '<id3>',
            href: '/v2/queues/relay/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'b',
          },
        ],
      },
    },
    stats: {
      status: 200,
      body: {
        messages: {
          claimed: 3,
          free: 0,
          total: 3,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 'c',
            claim_id: '<id4>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/relay/messages/<id5>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 'a',
            claim_id: '<id2>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/relay/messages/<id1>',
          },
        },
      },
    },
  },
  zaqar: {
    reclaimed: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/relay/messages/<id1>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'a',
          },
          {
            id: '<id3>',
            href: '/v2/queues/relay/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'b',
          },
          {
            id: '<id4>',
            href: '/v2/queues/relay/messages/<id4>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'c',
          },
        ],
      },
    },
    stats: {
      status: 200,
      body: {
        messages: {
          claimed: 4,
          free: -1,
          total: 3,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 'c',
            claim_id: '<id2>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/relay/messages/<id4>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 'a',
            claim_id: '<id2>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/relay/messages/<id1>',
          },
        },
      },
    },
  },
};

/**
 * Grace: a claimed message that would expire before its claim does lives until claim expiry + grace and
 * reports ttl + grace as its TTL; one that outlives the claim keeps its own TTL. A renewal applies the rule
 * again from the renewal.
 */
export const claimGrace: ZaqarScenario = {
  name: 'claim-grace',
  run: async (api, see) => {
    await api.postMessages('graced', [
      { body: 'short', ttl: 60 },
      { body: 'long', ttl: 3600 },
    ]);
    const claimed = await api.post('/v2/queues/graced/claims', { ttl: 100, grace: 60 });
    const claimId = (claimed.headers.get('location') ?? '').split('/').pop() ?? '';
    await api.patch(`/v2/queues/graced/claims/${claimId}`, { ttl: 3000, grace: 100 });
    const renewed = await api.get(`/v2/queues/graced/claims/${claimId}`);
    // A shorter renewal never shortens a message's life.
    await api.patch(`/v2/queues/graced/claims/${claimId}`, { ttl: 200, grace: 60 });
    const shorter = await api.get(`/v2/queues/graced/claims/${claimId}`);
    await api.delete(`/v2/queues/graced/claims/${claimId}`);
    const released = await api.get('/v2/queues/graced/messages?echo=true');
    return {
      claimed: see.response(claimed),
      renewed: see.response(renewed),
      shorter: see.response(shorter),
      released: see.response(released),
    };
  },
  expected: {
    claimed: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/graced/messages/<id1>?claim_id=<id2>',
            ttl: 160,
            age: 'age',
            body: 'short',
          },
          {
            id: '<id3>',
            href: '/v2/queues/graced/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'long',
          },
        ],
      },
    },
    renewed: {
      status: 200,
      body: {
        age: 'age',
        ttl: 3000,
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/graced/messages/<id1>?claim_id=<id2>',
            ttl: 3100,
            age: 'age',
            body: 'short',
          },
          {
            id: '<id3>',
            href: '/v2/queues/graced/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'long',
          },
        ],
        href: '/v2/queues/graced/claims/<id2>',
      },
    },
    shorter: {
      status: 200,
      body: {
        age: 'age',
        ttl: 200,
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/graced/messages/<id1>?claim_id=<id2>',
            ttl: 3100,
            age: 'age',
            body: 'short',
          },
          {
            id: '<id3>',
            href: '/v2/queues/graced/messages/<id3>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 'long',
          },
        ],
        href: '/v2/queues/graced/claims/<id2>',
      },
    },
    released: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/graced/messages/<id1>', ttl: 3100, age: 'age', body: 'short' },
          { id: '<id3>', href: '/v2/queues/graced/messages/<id3>', ttl: 3600, age: 'age', body: 'long' },
        ],
        links: [
          { rel: 'next', href: '/v2/queues/graced/messages?echo=true&include_delayed=true&marker=<id3>' },
        ],
      },
    },
  },
};

/** Claim parameters and unknown claims. */
export const claimChecks: ZaqarScenario = {
  name: 'claim-checks',
  run: async (api, see) => {
    await api.postMessages('checked-claims', [{ body: 1 }]);
    const claim = async (body: unknown, query = '') =>
      see.response(await api.post(`/v2/queues/checked-claims/claims${query}`, body));
    const unknown = '6b4d3c2a-1f0e-4d9c-8b7a-695847362514';
    const observation = {
      ttlLow: await claim({ ttl: 59 }),
      ttlHigh: await claim({ ttl: 43_201 }),
      graceLow: await claim({ grace: 59 }),
      graceHigh: await claim({ grace: 43_201 }),
      ttlText: await claim({ ttl: '60' }),
      limitZero: await claim({}, '?limit=0'),
      limitHuge: await claim({}, '?limit=21'),
      limitText: await claim({}, '?limit=x'),
      // TTL is checked before the limit, the limit before grace.
      order: await claim({ ttl: 1, grace: 1 }, '?limit=0'),
      orderLimitGrace: await claim({ grace: 1 }, '?limit=0'),
      notObject: await claim([1]),
      malformed: await claim('{'),
      getUnknown: see.response(await api.get(`/v2/queues/checked-claims/claims/${unknown}`)),
      getNonsense: see.response(await api.get('/v2/queues/checked-claims/claims/nonsense')),
      patchUnknown: see.response(await api.patch(`/v2/queues/checked-claims/claims/${unknown}`, { ttl: 60 })),
      patchBadTtl: see.response(await api.patch(`/v2/queues/checked-claims/claims/${unknown}`, { ttl: 1 })),
      patchNoBody: see.response(await api.request('PATCH', `/v2/queues/checked-claims/claims/${unknown}`)),
      deleteUnknown: see.response(await api.delete(`/v2/queues/checked-claims/claims/${unknown}`)),
      stillFree: see.response(await api.get('/v2/queues/checked-claims/stats')),
    };
    return observation;
  },
  expected: {
    ttlLow: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The TTL for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.',
      },
    },
    ttlHigh: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The TTL for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.',
      },
    },
    graceLow: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The grace for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.',
      },
    },
    graceHigh: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The grace for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.',
      },
    },
    ttlText: {
      status: 400,
      body: { title: 'Invalid request body', description: 'The value of the "ttl" field must be a int.' },
    },
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
    limitText: {
      status: 400,
      body: {
        title: 'Invalid parameter',
        description: 'The "limit" parameter is invalid. The value must be an integer.',
      },
    },
    order: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The TTL for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.',
      },
    },
    orderLimitGrace: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description: 'Limit must be at least 1 and may not be greater than 20.',
      },
    },
    notObject: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Document type not supported.' },
    },
    malformed: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
    getUnknown: {
      status: 404,
      body: {
        title: 'Not found',
        description: 'Claim <id1> does not exist in queue checked-claims for project zq-claim-checks',
      },
    },
    getNonsense: {
      status: 404,
      body: {
        title: 'Not found',
        description: 'Claim nonsense does not exist in queue checked-claims for project zq-claim-checks',
      },
    },
    patchUnknown: {
      status: 404,
      body: {
        title: 'Not found',
        description: 'Claim <id1> does not exist in queue checked-claims for project zq-claim-checks',
      },
    },
    patchBadTtl: {
      status: 400,
      body: {
        title: 'Invalid API request',
        description:
          'The TTL for a claim may not exceed 43200 seconds, and must be at least 60 seconds long.',
      },
    },
    patchNoBody: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
    deleteUnknown: { status: 204 },
    stillFree: {
      status: 200,
      body: {
        messages: {
          claimed: 0,
          free: 1,
          total: 1,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 1,
            claim_id: null,
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/checked-claims/messages/<id2>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 1,
            claim_id: null,
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/checked-claims/messages/<id2>',
          },
        },
      },
    },
  },
};

/** Zaqar's rules for deleting one message with and without the claim that holds it. */
export const deleteWithClaim: ZaqarScenario = {
  name: 'delete-with-claim',
  run: async (api, see) => {
    const [held, other, free] = await api.postMessages('guarded', [
      { body: 'held' },
      { body: 'other' },
      { body: 'free' },
    ]);
    const mine = await api.claim('guarded', { ttl: 120, grace: 60 }, 1);
    const theirs = await api.claim('guarded', { ttl: 120, grace: 60 }, 1);
    const path = (id: string, claim?: string) =>
      `/v2/queues/guarded/messages/${id}${claim === undefined ? '' : `?claim_id=${claim}`}`;
    const observation = {
      noClaim: see.response(await api.delete(path(held))),
      notAUuid: see.response(await api.delete(path(held, 'nonsense'))),
      unknownClaim: see.response(await api.delete(path(held, '6b4d3c2a-1f0e-4d9c-8b7a-695847362514'))),
      otherLiveClaim: see.response(await api.delete(path(held, theirs.claimId))),
      freeWithClaim: see.response(await api.delete(path(free, mine.claimId))),
      getClaimed: see.response(await api.get(path(held))),
      rightClaim: see.response(await api.delete(path(held, mine.claimId))),
      afterDelete: see.response(await api.get(path(held))),
      deleteAgain: see.response(await api.delete(path(held, mine.claimId))),
      deleteFree: see.response(await api.delete(path(free))),
      unknownMessage: see.response(await api.delete(path('nonsense'))),
      missingQueue: see.response(await api.delete(`/v2/queues/no-guarded/messages/${other}`)),
      claimAfter: see.response(await api.get(`/v2/queues/guarded/claims/${mine.claimId}`)),
      stats: see.response(await api.get('/v2/queues/guarded/stats')),
    };
    return observation;
  },
  expected: {
    noClaim: {
      status: 403,
      body: {
        title: 'Unable to delete',
        description: 'This message is claimed; it cannot be deleted without a valid claim ID.',
      },
    },
    notAUuid: {
      status: 400,
      body: { title: 'Unable to delete', description: 'The specified claim does not exist or has expired.' },
    },
    unknownClaim: {
      status: 400,
      body: { title: 'Unable to delete', description: 'The specified claim does not exist or has expired.' },
    },
    otherLiveClaim: {
      status: 403,
      body: {
        title: 'Unable to delete',
        description: 'This message is claimed; it cannot be deleted without a valid claim ID.',
      },
    },
    freeWithClaim: {
      status: 400,
      body: {
        title: 'Unable to delete',
        description: 'A claim was specified, but the message is not currently claimed.',
      },
    },
    getClaimed: {
      status: 200,
      body: {
        id: '<id1>',
        href: '/v2/queues/guarded/messages/<id1>?claim_id=<id2>',
        ttl: 3600,
        age: 'age',
        body: 'held',
      },
    },
    rightClaim: { status: 204 },
    afterDelete: {
      status: 404,
      body: {
        title: 'Not found',
        description: 'Message <id1> does not exist in queue guarded for project zq-delete-with-claim',
      },
    },
    deleteAgain: { status: 204 },
    deleteFree: { status: 204 },
    unknownMessage: { status: 204 },
    missingQueue: { status: 204 },
    claimAfter: {
      status: 200,
      body: { age: 'age', ttl: 120, messages: [], href: '/v2/queues/guarded/claims/<id2>' },
    },
    stats: {
      status: 200,
      body: {
        messages: {
          claimed: 1,
          free: 0,
          total: 1,
          newest: {
            age: 'age',
            ttl: 3600,
            body: 'other',
            claim_id: '<id3>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/guarded/messages/<id4>',
          },
          oldest: {
            age: 'age',
            ttl: 3600,
            body: 'other',
            claim_id: '<id3>',
            claim_count: 0,
            created: 'date',
            href: '/v2/queues/guarded/messages/<id4>',
          },
        },
      },
    },
  },
};

/**
 * Dead-letter queues: with _max_claim_count and _dead_letter_queue, a message claimed that many times moves
 * at its next claim (which then answers 204 if nothing else was claimed). Only bodies and TTLs of the moved
 * messages are compared: Zaqar keeps a moved message's id and age, EventterMQ's copy has a new id in the
 * dead-letter queue's log and counts its age from the move. Zaqar's redis store (a defect) leaves the moved
 * message marked with the claim that moved it, so the dead-letter queue hides it until that claim would
 * have expired; EventterMQ's copy is free at once.
 */
export const deadLetterQueue: ZaqarScenario = {
  name: 'dead-letter-queue',
  run: async (api, see) => {
    await api.put('/v2/queues/parked');
    await api.put('/v2/queues/poisoned', {
      _max_claim_count: 2,
      _dead_letter_queue: 'parked',
      _dead_letter_queue_messages_ttl: 120,
    });
    await api.postMessages('poisoned', [{ body: 'poison', ttl: 600 }, { body: 'fine' }]);
    const counts: unknown[] = [];
    const claims: number[] = [];
    for (let round = 0; round < 3; round++) {
      const res = await api.post('/v2/queues/poisoned/claims?limit=1', { ttl: 60, grace: 60 });
      claims.push(res.status);
      const stats = (await api.get('/v2/queues/poisoned/stats')).body as {
        messages: { total: number; oldest?: { claim_count: number } };
      };
      counts.push([stats.messages.total, stats.messages.oldest?.claim_count ?? null]);
      const location = res.headers.get('location');
      if (location !== null) await api.delete(`/v2/queues/poisoned/claims/${location.split('/').pop()}`);
    }
    const parked = (await api.get('/v2/queues/parked/messages?echo=true')).body as {
      messages: Array<{ body: unknown; ttl: number }>;
    };
    const left = await api.get('/v2/queues/poisoned/messages?echo=true');
    return {
      claims,
      counts: counts as never,
      parked: parked.messages.map((m) => [m.body, m.ttl]) as never,
      left: see.response(left),
    };
  },
  zaqar: {
    claims: [201, 201, 204],
    counts: [
      [2, 1],
      [2, 2],
      [1, 0],
    ],
    parked: [],
    left: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/poisoned/messages/<id1>', ttl: 3600, age: 'age', body: 'fine' },
        ],
        links: [
          { rel: 'next', href: '/v2/queues/poisoned/messages?echo=true&include_delayed=true&marker=<id1>' },
        ],
      },
    },
  },
  expected: {
    claims: [201, 201, 204],
    counts: [
      [2, 1],
      [2, 2],
      [1, 0],
    ],
    parked: [['poison', 120]],
    left: {
      status: 200,
      body: {
        messages: [
          { id: '<id1>', href: '/v2/queues/poisoned/messages/<id1>', ttl: 3600, age: 'age', body: 'fine' },
        ],
        links: [
          { rel: 'next', href: '/v2/queues/poisoned/messages?echo=true&include_delayed=true&marker=<id1>' },
        ],
      },
    },
  },
};

export const claimScenarios = [
  claimCycle,
  claimAfterRelease,
  claimGrace,
  claimChecks,
  deleteWithClaim,
  deadLetterQueue,
];
