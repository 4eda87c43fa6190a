/**
 * Which partitions this daemon runs actors for, and how they move between daemons of one consumer group:
 * revoked partitions are flushed, committed and released; assigned ones start once their previous owner
 * released them (or went silent for the session timeout), from the warehouse's checkpoint and state as they are
 * then; and a daemon that may have lost its partitions while it stalled is fenced before it commits.
 * Sources without a consumer group own every partition for the whole run.
 */
import type { Config } from '../config/schema.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { emptyCheckpoint, restoreRules, resumableCheckpoints } from '../partition/stored-checkpoint.ts';
import type { CheckpointDeltas } from '../observability/checkpoint-deltas.ts';
import type { Warehouse } from '../sinks/sink.ts';
import type { Source } from '../sources/source.ts';
import type { Committer } from './committer.ts';
import type { Checkpoint } from '../contract/checkpoint.ts';
import type { Router } from './router.ts';
import type { WorkerSlot } from './worker-slot.ts';

/** What the ownership works on: the supervisor's state, read through getters (some are replaced at start). */
export interface OwnershipHost {
  readonly cfg: Config;
  readonly source: Source;
  readonly warehouse: Warehouse;
  readonly log: Logger;
  readonly partitions: number;
  readonly router: Router;
  readonly slots: WorkerSlot[];
  readonly committer: Committer;
  readonly durableNext: Float64Array;
  readonly partitionWm: Float64Array;
  readonly initial: Map<number, Checkpoint>;
  readonly deltas: CheckpointDeltas;
  /** A test fault: claims wait this long before they are appended. */
  readonly claimDelayMs: number;
  waitFor(cond: () => boolean): Promise<void>;
  stopRequested(): boolean;
  fail(err: unknown): void;
  /** The partitions' latest durable checkpoints (those that have one). */
  checkpointsOf(partitions: Iterable<number>): Checkpoint[];
  /** Reads back what the previous owner of these partitions committed: ids for the dedupe index, and users. */
  catchUp(partitions: number[]): Promise<void>;
}

export class PartitionOwnership {
  private readonly h: OwnershipHost;
  readonly owned = new Set<number>();
  /** Assignment changes, applied one after another. */
  private handoff: Promise<void> = Promise.resolve();
  /** The group member id this daemon had when it adopted what it owns: a new id means the group dropped it. */
  private ownedAs: string | null = null;
  /** Partitions whose revoke a worker has not acknowledged yet, per worker. */
  private readonly revoking = new Map<number, { partitions: number[]; done: () => void }>();

  constructor(host: OwnershipHost) {
    this.h = host;
  }

  /** All partitions, for the whole run (sources without a consumer group). */
  ownAll(): void {
    for (let p = 0; p < this.h.partitions; p++) this.owned.add(p);
  }

  /** A new assignment from the consumer group; applied after the ones before it. */
  assign(partitions: number[]): void {
    this.handoff = this.handoff.then(() => this.applyAssignment(new Set(partitions))).catch((err: unknown) => this.h.fail(err));
  }

  /** The revoke a worker's previous incarnation never acknowledged, to send to the new one. */
  pendingRevoke(worker: number): number[] | undefined {
    return this.revoking.get(worker)?.partitions;
  }

  revoked(worker: number): void {
    const r = this.revoking.get(worker);
    this.revoking.delete(worker);
    r?.done();
  }

  /**
   * What a release records for each partition: its latest durable checkpoint, or an empty one when nothing of it
   * became durable here. A partition left out would keep this daemon's claim as its latest row, and its next
   * owner would wait for this daemon for as long as it stays in the group.
   */
  private lastCheckpoints(partitions: Iterable<number>): Checkpoint[] {
    const known = new Map(this.h.checkpointsOf(partitions).map((c) => [c.partition, c]));
    return [...partitions].map((p) => known.get(p) ?? emptyCheckpoint(p));
  }

  /** Leaving the group (drain, end of input): the next owners may start at once. */
  async releaseAll(): Promise<void> {
    const { source, warehouse, log } = this.h;
    if (!source.group || !warehouse.shared) return;
    await warehouse.shared.release(source.name, this.lastCheckpoints(this.owned)).catch((err: Error) =>
      log.warn({ err: err.message }, 'could not release the partitions; their next owner waits GAMESTREAM_KAFKA_SESSION_TIMEOUT'));
  }

  /**
   * Whether the group may no longer count this daemon: its lease (last confirmation plus the session timeout)
   * is not comfortably ahead, or it rejoined after a lapse. Only then does a commit ask the warehouse.
   */
  private leaseInDoubt(): boolean {
    const group = this.h.source.group;
    if (!group) return false;
    const margin = Math.min(2000, this.h.cfg.kafkaSessionTimeoutMs / 3);
    return performance.now() >= group.leaseExpiresAt() - margin;
  }

  /**
   * Before a commit point: while the group surely still counts this daemon (its last heartbeat plus the session
   * timeout is comfortably ahead), nothing to check. Otherwise (a stall, a lapsed session) the warehouse says
   * whether another daemon has written or claimed one of the batch's partitions since; then this daemon stops
   * (`partition_fenced`) without committing, and a restart resumes from what the warehouse holds.
   */
  async fence(checkpoints: Checkpoint[]): Promise<void> {
    await this.fencePartitions(checkpoints.map((c) => c.partition));
  }

  private async fencePartitions(partitions: number[]): Promise<void> {
    const { source, warehouse } = this.h;
    const group = source.group;
    if (partitions.length === 0 || !warehouse.shared || !group) return;
    // The group dropped this daemon and it joined again under a new member id: another daemon may have been
    // given its partitions meanwhile and be about to claim them, which the warehouse may not show yet.
    const now = group.memberId();
    if (this.ownedAs !== null && now !== this.ownedAs) this.droppedByGroup(partitions, `its member id changed from ${this.ownedAs} to ${now}`);
    if (!this.leaseInDoubt()) return;
    // The group itself says whether it still counts this daemon, before any other daemon's claim has landed.
    if ((await group.stillMember()) === false) this.droppedByGroup(partitions, `the group no longer knows member ${now}`);
    const fenced = await warehouse.shared.fencedPartitions(source.name, partitions);
    if (fenced.length > 0) {
      throw new GamestreamError('partition_fenced',
        `partitions ${fenced.join(', ')} were taken over by another daemon while this one was not heard from by the consumer group (a stall longer than GAMESTREAM_KAFKA_SESSION_TIMEOUT); stopping without committing them. A restart resumes from the warehouse.`);
    }
    source.group?.settleLapse();
  }

  private droppedByGroup(partitions: number[], why: string): never {
    throw new GamestreamError('partition_fenced',
      `the consumer group dropped this daemon while it was not heard from (a stall longer than GAMESTREAM_KAFKA_SESSION_TIMEOUT): ${why}, so partitions ${partitions.join(', ')} may have another owner; stopping without committing them. A restart resumes from the warehouse.`);
  }

  /**
   * A new assignment from the consumer group. Partitions taken away are flushed, committed and released (so
   * their next owner starts at once); partitions given are started once their previous owner released them,
   * from the warehouse's checkpoint and state as they are now, not as they were when this daemon started.
   */
  private async applyAssignment(next: Set<number>): Promise<void> {
    // Rejoining after a lapse: what this daemon holds in memory may be stale, since the group may have given
    // its partitions to another daemon meanwhile. Check now, not at the next commit, which an idle topic may
    // never bring.
    await this.fencePartitions([...this.owned]);
    const revoked = [...this.owned].filter((p) => !next.has(p)).sort((a, b) => a - b);
    const added = [...next].filter((p) => !this.owned.has(p) && p < this.h.partitions).sort((a, b) => a - b);
    if (revoked.length > 0) await this.revoke(revoked);
    if (this.owned.size === 0) this.ownedAs = null;
    if (added.length > 0 && !this.h.stopRequested()) {
      this.ownedAs = this.h.source.group?.memberId() ?? null;
      await this.adopt(added);
    }
  }

  private async revoke(partitions: number[]): Promise<void> {
    const { log, warehouse, source } = this.h;
    // How long each step took, logged with the hand-off: a slow one is what keeps the next owner waiting.
    const t0 = Date.now();
    const took = { queuedMs: 0, flushedMs: 0, committedMs: 0, releasedMs: 0 };
    for (const p of partitions) this.h.router.setResume(p, Infinity);
    const byWorker = new Map<number, number[]>();
    for (const p of partitions) {
      const w = this.h.router.workerOf(p);
      if (!byWorker.has(w)) byWorker.set(w, []);
      byWorker.get(w)!.push(p);
    }
    // Their records already queued reach the actors first (same mailbox), then the actors flush and close.
    await Promise.all([...byWorker].map(async ([w, parts]) => {
      const slot = this.h.slots[w]!;
      await this.h.waitFor(() => slot.pendingCount === 0 || this.h.stopRequested());
      took.queuedMs = Math.max(took.queuedMs, Date.now() - t0);
      await new Promise<void>((done) => {
        this.revoking.set(w, { partitions: parts, done });
        if (slot.ready) slot.post({ t: 'revoke', partitions: parts });
      });
    }));
    took.flushedMs = Date.now() - t0;
    // Their last flushes are queued now; the other partitions' later flushes need not be waited for.
    await this.h.committer.settled();
    took.committedMs = Date.now() - t0;
    for (const p of partitions) {
      this.owned.delete(p);
      this.h.partitionWm[p] = Infinity;
      // Nothing more of it will be durable here: batches kept for replay no longer wait for it.
      this.h.durableNext[p] = Infinity;
    }
    for (const s of this.h.slots) s.release(this.h.durableNext);
    let last = this.lastCheckpoints(partitions);
    // After a lapse another daemon may already have claimed some of them: those are not this daemon's to release.
    const shared = warehouse.shared;
    const taken = new Set(shared ? await shared.fencedPartitions(source.name, last.map((c) => c.partition)) : []);
    last = last.filter((c) => !taken.has(c.partition));
    await shared?.release(source.name, last);
    took.releasedMs = Date.now() - t0;
    log.info({ partitions, ...took }, 'partitions handed off: flushed, committed and released');
  }

  private async adopt(partitions: number[]): Promise<void> {
    const { log, warehouse, source } = this.h;
    let waitedSince = 0;
    const group = source.group;
    const released = (): Promise<void> | undefined => warehouse.shared?.awaitRelease(source.name, partitions, {
      graceMs: this.h.cfg.kafkaSessionTimeoutMs,
      liveMembers: group ? () => group.liveMembers() : undefined,
      onWait: (holders) => {
        if (waitedSince === 0) waitedSince = Date.now();
        log.info({ holders: holders.slice(0, 8) }, 'waiting for the previous owner to release partitions');
      },
    });
    await released();
    // Claimed before they are read: a stalled previous owner's commit record that lands after the claim can no
    // longer become visible, and one that landed before it is read here (and finished) like any other.
    if (this.h.claimDelayMs > 0 && warehouse.shared) {
      log.info({ partitions, delayMs: this.h.claimDelayMs }, 'claim held back (GAMESTREAM_TEST_CLAIM_DELAY)');
      await sleep(this.h.claimDelayMs);
    }
    await warehouse.shared?.claim(source.name, partitions);
    // Once more after the claim: an owner given the partitions just before this daemon, whose claim landed only
    // after the wait above, may be writing them still (its lease is fresh, so it checks nothing): it releases them.
    await released();
    if (waitedSince > 0) log.info({ waitedMs: Date.now() - waitedSince }, 'partitions released by their previous owner');
    const restores = await this.h.committer.exclusive(async () => {
      const all = resumableCheckpoints(await warehouse.loadCheckpoints(source.name, partitions), this.h.cfg.windowSizeMs, this.h.cfg.allowedLatenessMs);
      const cps = partitions.map((p) => all.get(p)).filter((c): c is Checkpoint => c !== undefined);
      for (const p of partitions) {
        const cp = all.get(p);
        this.h.committer.durable.delete(p);
        if (cp) {
          this.h.initial.set(p, cp);
          this.h.deltas.reset(cp);
        } else {
          this.h.initial.delete(p);
        }
        this.h.durableNext[p] = cp?.nextOffset ?? 0;
      }
      // From here on this daemon's rows of them outrank everything before (a late record of the previous owner).
      await warehouse.shared?.resumeFrom(source.name, partitions.map((p) => all.get(p) ?? emptyCheckpoint(p)));
      // What the previous owner committed of them, for duplicates across the hand-over.
      await this.h.catchUp(partitions);
      return warehouse.loadRestore(source.name, cps, restoreRules(this.h.cfg, this.h.partitions));
    });
    const resumeAt = new Map<number, number>();
    const byWorker = new Map<number, number[]>();
    for (const p of partitions) {
      resumeAt.set(p, this.h.durableNext[p]!);
      this.h.router.setResume(p, this.h.durableNext[p]!);
      this.h.partitionWm[p] = -Infinity;
      this.owned.add(p);
      const w = this.h.router.workerOf(p);
      if (!byWorker.has(w)) byWorker.set(w, []);
      byWorker.get(w)!.push(p);
    }
    for (const [w, parts] of byWorker) {
      const slot = this.h.slots[w]!;
      const set = new Set(parts);
      // A worker that is (re)starting right now gets them from startWorker instead.
      if (slot.ready) slot.post({ t: 'start-actors', partitions: parts, restore: restores.filter((r) => set.has(r.checkpoint.partition)) });
    }
    source.group?.startPartitions(resumeAt);
    log.info({ partitions: partitions.length }, 'partitions started from the warehouse checkpoints');
  }
}
