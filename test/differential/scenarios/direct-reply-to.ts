import type { Channel } from 'amqplib';
import type { Scenario } from '../scenario.js';
import { outcome, Recorder, withWorld } from '../scenario-world.js';

const REPLY_TO = 'amq.rabbitmq.reply-to';
const REPLY_TO_SHAPE = /^amq\.rabbitmq\.reply-to\.[A-Za-z0-9+/=._-]+$/;

/** RPC through the pseudo-queue amq.rabbitmq.reply-to, and the errors around its misuse. */
export const directReplyTo: Scenario = {
  name: 'direct-reply-to',
  run: (url) =>
    withWorld(url, async (w) => {
      const rpc = await w.queue('rpc');
      const server = await w.channel();
      const seenReplyTo: string[] = [];
      await server.consume(
        rpc,
        (req) => {
          if (req === null) return;
          const replyTo = req.properties.replyTo as string;
          seenReplyTo.push(replyTo);
          server.publish('', replyTo, Buffer.from(`re:${req.content.toString()}`), {
            correlationId: req.properties.correlationId as string,
          });
        },
        { noAck: true },
      );
      const client = await w.channel();
      const replies = await Recorder.consume(client, REPLY_TO, { noAck: true });
      client.sendToQueue(rpc, Buffer.from('ping'), { replyTo: REPLY_TO, correlationId: 'c-1' });
      client.sendToQueue(rpc, Buffer.from('pong'), { replyTo: REPLY_TO, correlationId: 'c-2' });
      const got = await replies.until(2);
      const replyTo = seenReplyTo[0] ?? '';
      return {
        replyToShape: REPLY_TO_SHAPE.test(replyTo),
        replyToStable: seenReplyTo.length === 2 && seenReplyTo[0] === seenReplyTo[1],
        replies: got.map((m) => ({
          body: m.content.toString(),
          correlationId: m.properties.correlationId as string,
          exchange: m.fields.exchange,
          routingKeyIsReplyTo: m.fields.routingKey === replyTo,
        })),
        consumeWithAck: await outcome(
          w.channel().then((ch) => ch.consume(REPLY_TO, () => {}, { noAck: false })),
        ),
        publishWithoutConsumer: await publishFailure(await w.channel()),
      };
    }),
  expected: {
    consumeWithAck: 406,
    publishWithoutConsumer: 406,
    replies: [
      {
        body: 're:ping',
        correlationId: 'c-1',
        exchange: '',
        routingKeyIsReplyTo: true,
      },
      {
        body: 're:pong',
        correlationId: 'c-2',
        exchange: '',
        routingKeyIsReplyTo: true,
      },
    ],
    replyToShape: true,
    replyToStable: true,
  },
};

/** Publishing with reply_to = amq.rabbitmq.reply-to but no reply consumer on the channel is an error. */
async function publishFailure(ch: Channel): Promise<number | 'ok' | 'no-code'> {
  const closed = new Promise<number | 'no-code'>((done) => {
    ch.once('error', (err: { code?: number }) => done(err.code ?? 'no-code'));
  });
  ch.sendToQueue('amq.rabbitmq.reply-to.nobody', Buffer.from('x'), { replyTo: REPLY_TO });
  // A round trip: if the publish was refused, the channel is closed before this answers.
  const probe = outcome(ch.checkExchange('amq.direct'));
  const code = await Promise.race([closed, probe]);
  return code === 'ok' ? 'ok' : await closed;
}
