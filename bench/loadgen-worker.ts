/** A worker thread that runs the load generator with the options it was given and posts its report back. */
import { parentPort, workerData } from 'node:worker_threads';
import { runLoadgen, type LoadgenOptions } from '../src/ingest/loadgen.ts';

parentPort!.postMessage(await runLoadgen(workerData as LoadgenOptions));
