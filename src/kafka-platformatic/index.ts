/**
 * The Kafka adapter as the composition roots use it, in one module that they load only when Kafka is configured:
 * the client library took about a third of a second of CPU to load (measured alone), which a file or generator
 * run never needs.
 */
export { KafkaSource } from './kafka-source.ts';
export { KafkaOutputs } from './outputs.ts';
export { SEED_TOPICS } from './topics.ts';
