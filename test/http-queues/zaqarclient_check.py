"""Drives a Zaqar v2 server with the official client (Debian python3-zaqarclient), unchanged.

usage: zaqarclient_check.py URL PROJECT
URL may carry credentials (http://user:password@host:port): the client's HTTP library sends them as Basic
auth. Prints one JSON document of what the client saw, with ids replaced by their order of appearance.
"""

import json
import sys

from zaqarclient.queues import client

url, project = sys.argv[1], sys.argv[2]
conf = {'auth_opts': {'backend': 'noauth', 'options': {'os_project_id': project}}}
zaqar = client.Client(url=url, version=2, conf=conf)
seen = {}


def label(value):
    return seen.setdefault(value, 'id%d' % (len(seen) + 1))


out = {}
queue = zaqar.queue('client-jobs', force_create=True)
queue.metadata(new_meta={'team': 'ops', '_default_message_ttl': 300})
out['metadata'] = {k: v for k, v in queue.metadata(force_reload=True).items() if not k.startswith('_')}
out['default_ttl'] = queue.metadata()['_default_message_ttl']
queue.post([{'body': {'job': 1}, 'ttl': 120}, {'body': 'job two'}, {'body': [3]}, {'body': 4}])
out['listed'] = [(label(m.id), m.body, m.ttl) for m in queue.messages(echo=True)]
stats = queue.stats['messages']
out['stats'] = {k: stats[k] for k in ('claimed', 'free', 'total')}

claim = queue.claim(ttl=120, grace=60, limit=2)
claimed = list(claim)
out['claimed'] = [(label(m.id), m.body) for m in claimed]
claim.update(ttl=300, grace=60)
out['claim_ttl_after_update'] = queue.claim(id=claim.id).ttl
for m in claimed:
    m.delete()
stats = queue.stats['messages']
out['after_delete'] = {k: stats[k] for k in ('claimed', 'free', 'total')}

released = queue.claim(ttl=60, grace=60, limit=1)
out['released'] = [label(m.id) for m in released]
released.delete()

one = queue.message(list(queue.messages(echo=True))[0].id)
out['one'] = (label(one.id), one.body)
out['popped'] = [m.body for m in queue.pop(1)]
remaining = list(queue.messages(echo=True))
queue.delete_messages(*[m.id for m in remaining])
out['after_bulk_delete'] = queue.stats['messages']['total']

queues, _ = zaqar.queues()
out['queues'] = sorted(q.name for q in queues)
queue.delete()
queues, _ = zaqar.queues()
out['queues_after_delete'] = sorted(q.name for q in queues)
print(json.dumps(out, sort_keys=True))
