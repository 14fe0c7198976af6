import type { ZaqarScenario } from '../zaqar-scenario.js';

/** The headers every request needs, checked in Zaqar's order. */
export const requestHeaders: ZaqarScenario = {
  name: 'request-headers',
  run: async (api, see) => {
    const get = async (headers: Record<string, string | undefined>) =>
      see.response(await api.get('/v2/queues', { headers }));
    return {
      noClientId: await get({ 'Client-ID': undefined }),
      emptyClientId: await get({ 'Client-ID': '' }),
      badClientId: await get({ 'Client-ID': 'not-a-uuid' }),
      shortClientId: await get({ 'Client-ID': '3381af92-2b9e-11e3-b191' }),
      hexClientId: await get({ 'Client-ID': '3381AF922B9E11E3B19171861300734C' }),
      bracedClientId: await get({ 'Client-ID': '{3381af92-2b9e-11e3-b191-71861300734c}' }),
      urnClientId: await get({ 'Client-ID': 'urn:uuid:3381af92-2b9e-11e3-b191-71861300734c' }),
      emptyProject: await get({ 'X-Project-ID': '' }),
      // Client-ID is checked before the project.
      bothBad: await get({ 'Client-ID': undefined, 'X-Project-ID': '' }),
      // Zaqar sends no body with 406 (the client refused JSON): the status only.
      notAcceptable: see.status(await api.get('/v2/queues', { headers: { Accept: 'text/plain' } })) as never,
      acceptAny: await get({ Accept: 'text/html, */*;q=0.1' }),
      formBody: see.response(
        await api.post('/v2/queues/forms/messages', 'a=b', {
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        }),
      ),
      badQueueName: see.response(await api.get('/v2/queues/a*b/stats')),
      pingMissingClient: see.response(await api.get('/v2/ping', { headers: { 'Client-ID': undefined } })),
    };
  },
  expected: {
    noClientId: {
      status: 400,
      body: { title: 'Missing header value', description: 'The "Client-ID" header is required.' },
    },
    emptyClientId: {
      status: 400,
      body: { title: 'Wrong UUID value', description: 'Malformed hexadecimal UUID.' },
    },
    badClientId: {
      status: 400,
      body: { title: 'Wrong UUID value', description: 'Malformed hexadecimal UUID.' },
    },
    shortClientId: {
      status: 400,
      body: { title: 'Wrong UUID value', description: 'Malformed hexadecimal UUID.' },
    },
    hexClientId: { status: 200, body: { queues: [], links: [] } },
    bracedClientId: { status: 200, body: { queues: [], links: [] } },
    urnClientId: { status: 200, body: { queues: [], links: [] } },
    emptyProject: {
      status: 400,
      body: {
        title: 'Empty project header not allowed',
        description:
          'X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and retry.',
      },
    },
    bothBad: {
      status: 400,
      body: { title: 'Missing header value', description: 'The "Client-ID" header is required.' },
    },
    notAcceptable: { status: 406 },
    acceptAny: { status: 200, body: { queues: [], links: [] } },
    formBody: {
      status: 400,
      body: {
        title: 'Invalid Content-Type',
        description:
          'Endpoint does not accept `application/x-www-form-urlencoded` content; currently supported media type is `application/json`; specify proper client-side media type with the "Content-Type" header.',
      },
    },
    badQueueName: {
      status: 400,
      body: {
        title: 'Invalid queue identification',
        description: 'The format of the submitted queue name or project id is not valid.',
      },
    },
    pingMissingClient: {
      status: 400,
      body: { title: 'Missing header value', description: 'The "Client-ID" header is required.' },
    },
  },
};

/** Ping, the JSON-home document, unknown paths and methods. */
export const homeAndPing: ZaqarScenario = {
  name: 'home-and-ping',
  run: async (api, see) => {
    const home = await api.get('/v2/');
    const resources = (
      home.body as { resources?: Record<string, { 'href-template': string; hints: unknown }> }
    ).resources;
    // Zaqar lists some resources EventterMQ does not serve yet (subscriptions, share): compare the common ones.
    const common = [
      'rel/queues',
      'rel/queue',
      'rel/queue_stats',
      'rel/queue_purge',
      'rel/messages',
      'rel/post_messages',
      'rel/messages_delete',
      'rel/message_delete',
      'rel/message_get',
      'rel/claim',
      'rel/post_claim',
      'rel/patch_claim',
      'rel/delete_claim',
    ];
    const wrongMethod = await api.request('POST', '/v2/queues/x/stats');
    return {
      home: {
        status: home.status,
        type: home.headers.get('content-type'),
        cache: home.headers.get('cache-control'),
        resources: Object.fromEntries(common.map((rel) => [rel, see.value(resources?.[rel])])),
      },
      ping: see.response(await api.get('/v2/ping')),
      pingHead: see.response(await api.request('HEAD', '/v2/ping')),
      unknown: see.status(await api.get('/v2/nothing-here')),
      wrongMethod: { ...(see.status(wrongMethod) as object), allow: wrongMethod.headers.get('allow') },
    };
  },
  expected: {
    home: {
      status: 200,
      type: 'application/json-home',
      cache: 'max-age=86400',
      resources: {
        'rel/queues': {
          'href-template': '/v2/queues{?marker,limit,detailed}',
          'href-vars': { marker: 'param/marker', limit: 'param/queue_limit', detailed: 'param/detailed' },
          hints: { allow: ['GET'], formats: { 'application/json': {} } },
        },
        'rel/queue': {
          'href-template': '/v2/queues/{queue_name}',
          'href-vars': { queue_name: 'param/queue_name' },
          hints: { allow: ['GET', 'PUT', 'DELETE', 'PATCH'], formats: { 'application/json': {} } },
        },
        'rel/queue_stats': {
          'href-template': '/v2/queues/{queue_name}/stats',
          'href-vars': { queue_name: 'param/queue_name' },
          hints: { allow: ['GET'], formats: { 'application/json': {} } },
        },
        'rel/queue_purge': {
          'href-template': '/v2/queues/{queue_name}/purge',
          'href-vars': { queue_name: 'param/queue_name' },
          hints: {
            allow: ['POST'],
            formats: { 'application/json': {} },
            'accept-post': ['application/json'],
          },
        },
        'rel/messages': {
          'href-template': '/v2/queues/{queue_name}/messages{?marker,limit,echo,include_claimed}',
          'href-vars': {
            queue_name: 'param/queue_name',
            marker: 'param/marker',
            limit: 'param/messages_limit',
            echo: 'param/echo',
            include_claimed: 'param/include_claimed',
          },
          hints: { allow: ['GET'], formats: { 'application/json': {} } },
        },
        'rel/post_messages': {
          'href-template': '/v2/queues/{queue_name}/messages',
          'href-vars': { queue_name: 'param/queue_name' },
          hints: {
            allow: ['POST'],
            formats: { 'application/json': {} },
            'accept-post': ['application/json'],
          },
        },
        'rel/messages_delete': {
          'href-template': '/v2/queues/{queue_name}/messages{?ids,pop}',
          'href-vars': { queue_name: 'param/queue_name', ids: 'param/ids', pop: 'param/pop' },
          hints: { allow: ['DELETE'], formats: { 'application/json': {} } },
        },
        'rel/message_delete': {
          'href-template': '/v2/queues/{queue_name}/messages/{message_id}{?claim}',
          'href-vars': {
            queue_name: 'param/queue_name',
            message_id: 'param/message_id',
            claim: 'param/claim_id',
          },
          hints: { allow: ['DELETE'], formats: { 'application/json': {} } },
        },
        'rel/message_get': {
          'href-template': '/v2/queues/{queue_name}/messages/{message_id}',
          'href-vars': { queue_name: 'param/queue_name', message_id: 'param/message_id' },
          hints: { allow: ['GET'], formats: { 'application/json': {} } },
        },
        'rel/claim': {
          'href-template': '/v2/queues/{queue_name}/claims/{claim_id}',
          'href-vars': { queue_name: 'param/queue_name', claim_id: 'param/claim_id' },
          hints: { allow: ['GET'], formats: { 'application/json': {} } },
        },
        'rel/post_claim': {
          'href-template': '/v2/queues/{queue_name}/claims{?limit}',
          'href-vars': { queue_name: 'param/queue_name', limit: 'param/claim_limit' },
          hints: {
            allow: ['POST'],
            formats: { 'application/json': {} },
            'accept-post': ['application/json'],
          },
        },
        'rel/patch_claim': {
          'href-template': '/v2/queues/{queue_name}/claims/{claim_id}',
          'href-vars': { queue_name: 'param/queue_name', claim_id: 'param/claim_id' },
          hints: {
            allow: ['PATCH'],
            formats: { 'application/json': {} },
            'accept-post': ['application/json'],
          },
        },
        'rel/delete_claim': {
          'href-template': '/v2/queues/{queue_name}/claims/{claim_id}',
          'href-vars': { queue_name: 'param/queue_name', claim_id: 'param/claim_id' },
          hints: { allow: ['DELETE'], formats: { 'application/json': {} } },
        },
      },
    },
    ping: { status: 204 },
    pingHead: { status: 204 },
    unknown: { status: 404, title: '404 Not Found' },
    wrongMethod: { status: 405, title: '405 Method Not Allowed', allow: 'GET, OPTIONS' },
  },
};

/** Content-Length: 0 with a JSON content type (how the official client creates a queue) counts as no body. */
export const emptyJsonBodies: ZaqarScenario = {
  name: 'empty-json-bodies',
  run: async (api, see) => {
    await api.postMessages('empties', [{ body: 1 }]);
    return {
      put: see.response(await api.put('/v2/queues/empties', '')),
      claim: see.response(await api.post('/v2/queues/empties/claims', '')),
      purge: see.response(await api.post('/v2/queues/empties/purge', '')),
      patch: see.response(
        await api.patch('/v2/queues/empties', '', {
          headers: { 'Content-Type': 'application/openstack-messaging-v2.0-json-patch' },
        }),
      ),
      post: see.response(await api.post('/v2/queues/empties/messages', '')),
      renew: see.response(
        await api.patch('/v2/queues/empties/claims/6b4d3c2a-1f0e-4d9c-8b7a-695847362514', ''),
      ),
    };
  },
  expected: {
    put: { status: 204 },
    claim: {
      status: 201,
      body: {
        messages: [
          {
            id: '<id1>',
            href: '/v2/queues/empties/messages/<id1>?claim_id=<id2>',
            ttl: 3600,
            age: 'age',
            body: 1,
          },
        ],
      },
    },
    purge: { status: 204 },
    patch: {
      status: 400,
      body: { title: 'Invalid request body', description: 'PATCH body could not be empty for update.' },
    },
    post: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
    renew: {
      status: 400,
      body: { title: 'Invalid request body', description: 'Request body could not be parsed.' },
    },
  },
};

export const requestScenarios = [requestHeaders, homeAndPing, emptyJsonBodies];
