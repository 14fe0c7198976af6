/**
 * The JSON-home document at /v2/ (draft-nottingham-json-home, as Zaqar serves it): one entry per resource
 * this API serves, with its URI template, the variables' meanings and the methods it allows.
 */

type Resource = [rel: string, template: string, allow: string[], vars: Record<string, string>, post?: true];

const RESOURCES: Resource[] = [
  ['queues', '/v2/queues{?marker,limit,detailed}', ['GET'], { limit: 'queue_limit' }],
  ['queue', '/v2/queues/{queue_name}', ['GET', 'PUT', 'DELETE', 'PATCH'], {}],
  ['queue_stats', '/v2/queues/{queue_name}/stats', ['GET'], {}],
  ['queue_purge', '/v2/queues/{queue_name}/purge', ['POST'], {}, true],
  [
    'messages',
    '/v2/queues/{queue_name}/messages{?marker,limit,echo,include_claimed}',
    ['GET'],
    { limit: 'messages_limit' },
  ],
  ['post_messages', '/v2/queues/{queue_name}/messages', ['POST'], {}, true],
  ['messages_delete', '/v2/queues/{queue_name}/messages{?ids,pop}', ['DELETE'], {}],
  [
    'message_delete',
    '/v2/queues/{queue_name}/messages/{message_id}{?claim}',
    ['DELETE'],
    { claim: 'claim_id' },
  ],
  ['message_get', '/v2/queues/{queue_name}/messages/{message_id}', ['GET'], {}],
  ['claim', '/v2/queues/{queue_name}/claims/{claim_id}', ['GET'], {}],
  ['post_claim', '/v2/queues/{queue_name}/claims{?limit}', ['POST'], { limit: 'claim_limit' }, true],
  ['patch_claim', '/v2/queues/{queue_name}/claims/{claim_id}', ['PATCH'], {}, true],
  ['delete_claim', '/v2/queues/{queue_name}/claims/{claim_id}', ['DELETE'], {}],
  ['ping', '/v2/ping', ['GET', 'HEAD'], {}],
  ['health', '/v2/health', ['GET'], {}],
];

/** Variables named in a URI template: {a} and {?a,b}. */
function templateVars(template: string): string[] {
  return [...template.matchAll(/\{\??([^}]+)\}/g)].flatMap((m) => m[1].split(','));
}

let cached: unknown;

export function homeDocument(): unknown {
  cached ??= {
    resources: Object.fromEntries(
      RESOURCES.map(([rel, template, allow, vars, post]) => {
        const hrefVars = Object.fromEntries(templateVars(template).map((v) => [v, `param/${vars[v] ?? v}`]));
        const hints: Record<string, unknown> = { allow, formats: { 'application/json': {} } };
        if (post) hints['accept-post'] = ['application/json'];
        const entry: Record<string, unknown> = { 'href-template': template };
        if (Object.keys(hrefVars).length > 0) entry['href-vars'] = hrefVars;
        entry.hints = hints;
        return [`rel/${rel}`, entry];
      }),
    ),
  };
  return cached;
}
