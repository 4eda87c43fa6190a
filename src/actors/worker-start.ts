/**
 * Starting a worker thread, and starting it again when it dies: its actors are rebuilt from the warehouse
 * checkpoints, and every batch it was sent that is not yet durable is replayed to it (actors skip what they
 * already have). A thread that dies before it is ready leaves its start to the restart its exit begins; a
 * partition this daemon took over while the thread was starting gets its actor before the thread counts as ready.
 */
import { NO_FAULTS, type Faults } from '../config/faults.ts';
import type { Config } from '../config/schema.ts';
import type { Checkpoint } from '../contract/checkpoint.ts';
import type { TableFiles } from '../enrich/tables.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import { restoreRules } from '../partition/stored-checkpoint.ts';
import type { Warehouse } from '../sinks/sink.ts';
import type { ConfluentSchemas } from '../sources/kafka/schemas.ts';
import type { Source } from '../sources/source.ts';
import type { Committer } from './committer.ts';
import type { IndexLink } from './index-link.ts';
import type { PartitionOwnership } from './ownership.ts';
import type { FromWorker } from './protocol.ts';
import { RestartGuard } from './restart-guard.ts';
import type { UserLink } from './user-link.ts';
import { workerSettings } from './worker-settings.ts';
import type { WorkerSlot } from './worker-slot.ts';

export interface WorkerStartHost {
  cfg: Config;
  source: Source;
  warehouse: Warehouse;
  tables: TableFiles;
  spoolDir: string;
  faults?: Faults;
  schemas: ConfluentSchemas | null;
  index: IndexLink;
  users: UserLink;
  committer: Committer;
  ownership: PartitionOwnership;
  partitions: number;
  metrics?: Metrics;
  log: Logger;
  say(line: string): void;
  partitionsOf(worker: number): number[];
  checkpointsOf(partitions: Iterable<number>): Checkpoint[];
  onMessage(slot: WorkerSlot, msg: FromWorker): void;
  /** The error the daemon stops on, once there is one. */
  fatal(): unknown;
  fail(err: unknown): void;
  /** Sends the slot what it may take of its waiting batches. */
  pumpSlot(slot: WorkerSlot): void;
  endPosted(): boolean;
  drainRequested(): boolean;
  notify(): void;
}

export class WorkerStarts {
  private readonly h: WorkerStartHost;
  readonly restarts: RestartGuard;

  constructor(host: WorkerStartHost) {
    this.h = host;
    this.restarts = new RestartGuard(host.cfg.restartLimit, host.cfg.restartWindowMs);
  }

  /** Resolves once the thread is ready, or once it has died before that (its restart carries on) or the daemon failed. */
  async start(slot: WorkerSlot): Promise<void> {
    const h = this.h;
    const rules = restoreRules(h.cfg, h.partitions);
    const owned = () => h.partitionsOf(slot.index).filter((p) => h.ownership.owned.has(p));
    const partitions = owned();
    // Inside exclusive(): every flush queued before the crash is committed first, so these are final.
    const restore = await h.committer.exclusive(() => h.warehouse.loadRestore(h.source.name, h.checkpointsOf(partitions), rules));
    // The daemon stopped meanwhile (its threads are terminated): a thread started now would outlive it.
    if (slot.stopping || h.fatal()) return;
    let exited = false;
    const readyOnce = new Promise<void>((resolve) => {
      slot.spawn(
        (msg) => {
          if (msg.t === 'ready') resolve();
          h.onMessage(slot, msg);
        },
        (code, err) => {
          exited = true;
          resolve();
          this.onExit(slot, code, err);
        },
      );
    });
    slot.post({
      t: 'init',
      tables: h.tables.snapshot(),
      settings: workerSettings({
        cfg: h.cfg, source: h.source, schemas: h.schemas, spoolDir: h.spoolDir, worker: slot.index,
        incarnation: slot.incarnation, index: h.index.workerIndex(slot.index), crash: (h.faults ?? NO_FAULTS).crashWorker,
        knownUsers: h.users.filter,
      }),
    });
    slot.post({ t: 'start-actors', partitions, restore });
    await Promise.all([readyOnce, slot.reloadRetained(h.source)]); // then ready: no new batch overtakes the replay
    if (exited || h.fatal()) return;
    // Partitions taken over meanwhile: the take-over sends actors to ready threads only, so this one needs them now.
    const started = new Set(partitions);
    for (let missed = owned().filter((p) => !started.has(p)); missed.length > 0; missed = owned().filter((p) => !started.has(p))) {
      const more = await h.committer.exclusive(() => h.warehouse.loadRestore(h.source.name, h.checkpointsOf(missed), rules));
      if (exited || h.fatal()) return;
      slot.post({ t: 'start-actors', partitions: missed, restore: more });
      for (const p of missed) started.add(p);
    }
    slot.ready = true;
    // A revoke the crashed incarnation never acknowledged: its actors were just rebuilt, so revoke them again.
    const pendingRevoke = h.ownership.pendingRevoke(slot.index);
    if (pendingRevoke) slot.post({ t: 'revoke', partitions: pendingRevoke });
    // Replay everything sent to this worker that is not yet durable; actors skip what they already have.
    for (const r of slot.retained) slot.sendBatch(r);
    h.pumpSlot(slot);
    if (h.endPosted()) slot.post({ t: 'end' });
    else if (h.drainRequested()) slot.post({ t: 'drain' });
    h.notify();
  }

  private onExit(slot: WorkerSlot, code: number, err: Error | null): void {
    const h = this.h;
    slot.ready = false;
    if (slot.stopping || h.fatal()) return;
    const why = err?.message ?? `exit code ${code}`;
    const loop = this.restarts.crashed(slot.index, why, err);
    if (loop) return h.fail(loop);
    h.metrics?.workerRestarted(slot.index);
    h.log.error({ worker: slot.index, err: why }, 'worker crashed; restarting');
    this.start(slot).then(
      () => {
        if (slot.ready) h.say(`worker ${slot.index} crashed (${why}); restarted it from the warehouse checkpoints and replayed ${slot.retained.length} batch(es) that were not yet durable (${slot.reloaded} read again from the source)`);
      },
      (e: unknown) => h.fail(e),
    );
  }
}
