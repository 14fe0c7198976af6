/** Plain JSON a scenario reports: what a client could see, with run-specific names and times normalised. */
export type Observation = null | boolean | number | string | Observation[] | { [key: string]: Observation };

/**
 * One broker feature exercised the same way against RabbitMQ and EventterMQ.
 * `expected` is what RabbitMQ 3.10 produces; it is checked against RabbitMQ whenever one is available,
 * so it cannot drift from the reference, and it stands in for RabbitMQ where none is installed.
 */
export interface Scenario {
  name: string;
  run(url: string): Promise<Observation>;
  expected: Observation;
}
