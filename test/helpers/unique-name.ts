let counter = 0;
const runId = `${process.pid.toString(36)}${Date.now().toString(36)}`;

/** A name no other test (nor an earlier run against the same external broker) uses. */
export function uniqueName(prefix = 't'): string {
  counter += 1;
  return `${prefix}-${runId}-${counter}`;
}
