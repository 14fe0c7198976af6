/**
 * Runs many independent async tasks with a bound on how many run at once (opening thousands of
 * connections without a SYN flood or thousands of pending handshakes).
 */

/**
 * Calls task(0) .. task(count - 1), at most `parallelism` at a time. After the first failure no new
 * task starts; the running ones settle and the first error is rethrown.
 */
export async function forEachBounded(
  count: number,
  parallelism: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a natural number: ${count}`);
  if (!Number.isInteger(parallelism) || parallelism < 1)
    throw new RangeError(`parallelism must be a positive integer: ${parallelism}`);
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (errors.length === 0 && next < count) {
      const index = next++;
      try {
        await task(index);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(parallelism, count); w++) workers.push(worker());
  await Promise.all(workers);
  if (errors.length > 0) throw errors[0];
}
