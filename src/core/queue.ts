import type { ClassicQueue } from './classic-queue.js';
import type { Stream } from './stream.js';

/**
 * A queue as clients name it: a classic queue (messages leave when acked) or a stream (messages stay until
 * retention). Both take routed messages and consumers through the same methods; `kind` tells them apart.
 */
export type Queue = ClassicQueue | Stream;
