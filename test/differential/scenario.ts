/** Plain JSON a scenario reports: what a client could see, with run-specific names and times normalised. */
export type Observation = null | boolean | number | string | Observation[] | { [key: string]: Observation };

/** Broker administration beyond AMQP that some scenarios need (rabbitmqctl / the management HTTP API). */
export interface BrokerAdmin {
  /** Sets a policy on vhost '/' applying to queues; replaces one of the same name. */
  setPolicy(
    name: string,
    pattern: string,
    definition: Record<string, string | number | boolean>,
  ): Promise<void>;
  clearPolicy(name: string): Promise<void>;
}

/**
 * One broker feature exercised the same way against RabbitMQ and EventterMQ.
 * `expected` is what RabbitMQ 3.10 produces (unless `rabbitmq` says otherwise); it is checked against
 * RabbitMQ whenever one is available, so it cannot drift from the reference, and it stands in for
 * RabbitMQ where none is installed.
 */
export interface Scenario {
  name: string;
  /** `admin` is given when the broker can be administered; scenarios with `needsAdmin` require it. */
  run(url: string, admin?: BrokerAdmin): Promise<Observation>;
  needsAdmin?: boolean;
  expected: Observation;
  /**
   * Set only where EventterMQ deliberately does better than RabbitMQ 3.10 (a RabbitMQ defect): what
   * RabbitMQ 3.10 produces instead. RabbitMQ is then held to this and EventterMQ to `expected`.
   */
  rabbitmq?: Observation;
}
