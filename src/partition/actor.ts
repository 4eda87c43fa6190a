/**
 * One partition's actor: decode → validate → dedupe → enrich → window, appending warehouse rows to its worker's
 * buffers. Everything it decides depends only on the partition's records in offset order, so a replay after a
 * crash decides the same way (docs/SEMANTICS.md).
 */
import { BatchAhead } from './batch-ahead.ts';
import type { ActorRestore, Checkpoint } from '../contract/checkpoint.ts';
import type { ActorRules } from '../contract/rules.ts';
import { deriveTimeFields } from '../enrich/derived.ts';
import type { EnrichmentTables } from '../enrich/tables.ts';
import { KEY, keyOf } from '../dedupe/id-key.ts';
import { KeyFilter } from '../dedupe/filter.ts';
import { IndexView } from '../dedupe/lookup.ts';
import { RowBuffer, type SpillFiles } from '../sinks/row-files.ts';
import { TumblingWindows, type WindowRow } from '../windows/tumbling.ts';
import { decodeStandIn, oversizedPrefixBytes, type Oversized } from '../contract/oversized.ts';
import { oversized, oversizedDeadLetter, rawForDeadLetter } from './dead-letter.ts';
import { recordHash } from '../contract/record-hash.ts';
import { maskIps } from './mask-ip.ts';
import { ConfluentAvro, decodeJson, type AvroDecoder, type Decoded } from './decode.ts';
import type { ActorLifecycle } from './lifecycle.ts';
import type { RawRecord, Rejection, ValidEvent } from './record.ts';
import { isRejection, validate } from './validate.ts';
import { UserCache } from '../users/user-cache.ts';
import { daysSinceInstall, isInstall, isPaidPurchase, isPayingAt, observe, type UserState } from '../users/state.ts';

export interface ActorSettings extends ActorRules {
  partition: number;
  /** The source's number in the dedupe index. */
  origin: number;
  avro: AvroDecoder | null;
  /** Kafka: Confluent-framed Avro among JSON records, by schema id. */
  confluent?: ConfluentAvro | null;
  /** The source hands on lines over the size limit as stand-ins (src/contract/oversized.ts). */
  cutsOversized?: boolean;
}

export interface ActorOutput {
  events: RowBuffer;
  dlq: RowBuffer;
  agg: RowBuffer;
  /** Window rows that replace rows written before (see Checkpoint.provisionalFromMs). */
  aggUpdates: RowBuffer;
  tables: () => EnrichmentTables;
  /** Dead letters per reason code since the last flush, so metrics can count exactly what was committed. */
  deadLetterCodes: Map<string, number>;
  /** Wall-clock times at which windows closed since the last flush (one per window, for the emit latency). */
  windowsClosedAtMs: number[];
  /** The dedupe index as this thread sees it; its pending ids are those its actors accepted. */
  index: IndexView;
  /** The user states of this thread's actors (src/users/), and the rows of those changed since the last flush. */
  users: UserCache;
  userRows: RowBuffer;
  /** The rest of the worker's batch, whose users a read takes along (BatchAhead). */
  ahead: BatchAhead;
}

/**
 * Empty row buffers for a host's actors (one set per worker thread; every actor of the thread appends).
 * `spill`: names the files that full chunks of rows are written to before the flush (see RowBuffer); null keeps
 * rows in memory until the flush.
 */
export function actorOutput(
  tables: () => EnrichmentTables,
  index: IndexView = new IndexView(KeyFilter.create(1 << 16).sharedBuffer, []),
  users: UserCache = new UserCache(100_000, () => []),
  spill: SpillFiles | null = null,
): ActorOutput {
  const buffer = (table: string): RowBuffer => new RowBuffer(spill ? spill(table) : null);
  return {
    events: buffer('events'), dlq: buffer('dlq'), agg: buffer('agg'), aggUpdates: buffer('agg-updates'), tables, deadLetterCodes: new Map(),
    windowsClosedAtMs: [], index, users, userRows: buffer('users'), ahead: new BatchAhead(),
  };
}

export class PartitionActor implements ActorLifecycle {
  readonly partition: number;
  private readonly s: ActorSettings;
  private readonly out: ActorOutput;
  private readonly windows: TumblingWindows;
  private nextOffset = 0;
  private maxTs = -Infinity;
  private watermark = -Infinity;
  private events = 0;
  private deadLetters = 0;
  private duplicates = 0;
  private late = 0;
  private windowRows = 0;
  private lastRecordHash: number | null = null;
  private dirty = false;
  private closed = false;
  private ended = false;
  private lastClosedWindow = NaN;
  /**
   * Windows written early at an end of input (start in [provisionalFrom, provisionalTo)), and which of their keys
   * have a row: when such a window is written again, those rows are rewritten and the other keys added.
   */
  private provisionalFrom = NaN;
  private provisionalTo = NaN;
  private readonly written = new Set<string>();
  private readonly emitRow = (r: WindowRow): void => {
    if (r.windowStart !== this.lastClosedWindow) {
      this.lastClosedWindow = r.windowStart;
      this.out.windowsClosedAtMs.push(Date.now());
    }
    const row = {
      window_start_ms: r.windowStart,
      window_end_ms: r.windowEnd,
      event_type: r.eventType,
      level_id: r.levelId,
      event_count: r.count,
      source_partition: this.partition,
    };
    if (r.windowStart >= this.provisionalFrom && r.windowStart < this.provisionalTo && this.written.has(writtenKey(r.windowStart, r.eventType, r.levelId))) {
      this.out.aggUpdates.push(row);
      return;
    }
    this.out.agg.push(row);
    this.windowRows++;
  };

  constructor(settings: ActorSettings, out: ActorOutput) {
    this.partition = settings.partition;
    this.s = settings;
    this.out = out;
    this.windows = new TumblingWindows(settings.windowSizeMs, settings.allowedLatenessMs);
  }

  start(restore: ActorRestore | null): void {
    if (!restore) return;
    const c = restore.checkpoint;
    this.nextOffset = c.nextOffset;
    this.maxTs = c.maxEventMs ?? -Infinity;
    this.watermark = c.watermarkMs ?? -Infinity;
    this.events = c.events;
    this.deadLetters = c.deadLetters;
    this.duplicates = c.duplicates;
    this.late = c.lateEvents;
    this.windowRows = c.windowRows;
    this.lastRecordHash = c.lastRecordHash ?? null;
    this.windows.restore(c.closedThroughMs ?? -Infinity, restore.windows);
    if (c.provisionalFromMs !== null && c.provisionalToMs !== null) {
      this.provisionalFrom = c.provisionalFromMs;
      this.provisionalTo = c.provisionalToMs;
      for (const k of restore.written) this.written.add(writtenKey(k.windowStart, k.eventType, k.levelId));
    }
  }

  processBatch(records: RawRecord[], receivedAtMs: number, nowMs: number): void {
    if (this.closed) throw new Error(`partition ${this.partition} actor is closed`);
    const users = this.out.users;
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      if (rec.offset < this.nextOffset) continue; // already durable: a replay after a restart
      this.nextOffset = rec.offset + 1;
      this.dirty = true;
      const v = this.decodeRecord(rec, receivedAtMs, nowMs);
      if (!v) continue;
      let state = users.get(v.userId);
      if (state === undefined && users.mayBeStored(v.userId)) {
        // The user must be read from the warehouse: so are the rest of the batch's users it lacks, in one request.
        users.fetch(this.usersAhead(records, i, v.userId), this.partition);
        state = users.get(v.userId);
      }
      this.accept(v, rec, state ?? null);
    }
    // The last record this batch took: the checkpoint's fingerprint of its position (one hash a batch).
    const last = records[records.length - 1];
    if (last !== undefined && last.offset + 1 === this.nextOffset) this.lastRecordHash = recordHash(last.bytes);
  }

  /**
   * `first` and the users that must be read too of records[from + 1 …] and, the first time in a worker's batch, of
   * the partitions after this one (BatchAhead); the users among them held already are kept through the batch.
   * They are decoded a second time for that: only a batch in which some user must be read pays it, mostly right
   * after a start or with more players than the cache holds.
   */
  private usersAhead(records: RawRecord[], from: number, first: string): string[] {
    const users = this.out.users;
    const out = [first];
    const want = (rec: RawRecord): void => {
      const d = this.decode(rec.bytes);
      const raw = d.ok ? d.obj.user_id : undefined;
      if (typeof raw !== 'string') return;
      const id = maskIps(raw);
      // One held is kept through this batch's reads; one not held is read with the first.
      if (!users.want(id) && users.mayBeStored(id)) out.push(id);
    };
    for (let i = from + 1; i < records.length; i++) want(records[i]!);
    for (const share of this.out.ahead.take()) for (const rec of share) want(rec);
    return out;
  }

  /** The record is an Avro datum: of the file's schema, or Confluent-framed on a topic; else JSON text. */
  private isAvro(bytes: Uint8Array): boolean {
    return !!this.s.avro || (!!this.s.confluent && ConfluentAvro.isFramed(bytes));
  }

  /** A record's bytes as an object: the file's Avro schema, a Confluent-framed datum's, or JSON. */
  private decode(bytes: Uint8Array): Decoded {
    if (!this.isAvro(bytes)) return decodeJson(bytes, this.s.maxEventBytes);
    return this.s.avro ? this.s.avro.decode(bytes, this.s.maxEventBytes) : this.s.confluent!.decode(bytes, this.s.maxEventBytes);
  }

  /** The record's event, or null when it became a dead letter. */
  private decodeRecord(rec: RawRecord, receivedAtMs: number, nowMs: number): ValidEvent | null {
    const standIn = this.s.cutsOversized ? decodeStandIn(rec.bytes) : null;
    if (standIn) {
      this.tooLarge(rec, standIn, receivedAtMs);
      return null;
    }
    const decoded = this.decode(rec.bytes);
    if (!decoded.ok) {
      // Never the whole record: a dead letter must fit every warehouse load and topic whatever the input.
      if (decoded.rejection.code === 'too_large') this.tooLarge(rec, oversized(rec.bytes, oversizedPrefixBytes(this.s.maxEventBytes)), receivedAtMs);
      else this.deadLetter(rec, decoded.rejection, null, receivedAtMs);
      return null;
    }
    const v = validate(decoded.obj, { futureToleranceMs: this.s.futureToleranceMs, nowMs, escapes: decoded.escapes });
    if (isRejection(v)) {
      const ip = decoded.obj.ip_address;
      this.deadLetter(rec, v, typeof ip === 'string' ? ip : null, receivedAtMs);
      return null;
    }
    // The player as the events row stores it (a user_id holding an address is masked): users, and its reads, too.
    v.userId = maskIps(v.userId);
    return v;
  }

  /** `user`: the user's state before this event (null: none yet). */
  private accept(v: ValidEvent, rec: RawRecord, user: UserState | null): void {
    if (v.tsMs > this.maxTs) {
      this.maxTs = v.tsMs;
      const wm = v.tsMs - this.s.maxOutOfOrdernessMs;
      if (wm > this.watermark) {
        this.watermark = wm;
        this.windows.advance(wm, this.emitRow);
      }
    }
    // An id the warehouse already holds (any source) or this partition accepted before, within the horizon; if
    // not, it is recorded as seen at the partition's event time now, its maxTs (docs/SEMANTICS.md).
    // The id as stored (an id holding an address is stored masked), so a rebuild from the warehouse keys the same.
    keyOf(maskIps(v.id));
    if (this.out.index.admit(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, this.maxTs, this.s.origin, this.partition, rec.offset, this.maxTs - this.s.dedupeHorizonMs)) {
      this.duplicates++;
      return;
    }
    this.writeEvent(v, rec, user);
    if (!this.windows.add(v.tsMs, v.type, v.levelId)) this.late++;
    this.events++;
  }

  private writeEvent(v: ValidEvent, rec: RawRecord, user: UserState | null): void {
    const tables = this.out.tables();
    const geo = v.ipAddress !== null && tables.geoip ? tables.geoip.lookup(v.ipAddress) : null;
    const dev = v.deviceModel !== null && tables.devices ? tables.devices.lookup(v.deviceModel) : null;
    const t = deriveTimeFields(v.tsMs);
    // The user's state as of this event: every accepted event of the user before it in offset order, and it.
    const o = observe(user, v.tsMs, isInstall(v.name), isPaidPurchase(v.type, v.parameters));
    if (o.changed) this.out.users.set(v.userId, o.state, this.partition);
    // Same keys in the same order for every row: V8 serialises such objects on its fast path.
    // Any address a client put into a stored field (parameters above all) is masked in the row's JSON text.
    this.out.events.pushLine(maskIps(JSON.stringify({
      event_id: v.id,
      user_id: v.userId,
      session_id: v.sessionId,
      event_type: v.type,
      event_name: v.name,
      ts_ms: v.tsMs,
      event_date: t.eventDate,
      event_hour: t.eventHour,
      day_of_week: t.dayOfWeek,
      parameters: v.parameters,
      platform: v.platform,
      app_version: v.appVersion,
      country: geo ? geo.country : null,
      region: geo ? geo.region : null,
      city: geo ? geo.city : null,
      device_model: v.deviceModel,
      device_category: dev ? dev.category : null,
      device_tier: dev ? dev.tier : null,
      source_partition: this.partition,
      source_offset: rec.offset,
      // Values the client sent win (docs/SEMANTICS.md).
      is_paying_user: v.clientPaying ?? isPayingAt(o.state, v.tsMs),
      days_since_install: v.clientDaysSinceInstall ?? daysSinceInstall(o.state, v.tsMs),
      properties: v.properties,
    })));
  }

  private tooLarge(rec: RawRecord, o: Oversized, receivedAtMs: number): void {
    const d = oversizedDeadLetter(o, this.s.maxEventBytes);
    this.pushDeadLetter(rec, { code: 'too_large', stage: 'decode', message: d.error }, d, receivedAtMs);
  }

  private deadLetter(rec: RawRecord, r: Rejection, ip: string | null, receivedAtMs: number): void {
    this.pushDeadLetter(rec, r, rawForDeadLetter(rec.bytes, ip, this.isAvro(rec.bytes)), receivedAtMs);
  }

  private pushDeadLetter(rec: RawRecord, r: Rejection, raw: { raw: string; encoding: 'utf8' | 'base64' }, receivedAtMs: number): void {
    this.out.dlq.push({
      error_code: r.code,
      // Error texts quote parts of the record (a JSON parse error, a bad timestamp): masked like it, and never with
      // half of a character, which a cut quote or V8's parse error ("Unexpected token '\ud83d'") can leave and no
      // warehouse load accepts.
      error: maskIps(r.message).toWellFormed(),
      stage: r.stage,
      raw_message: raw.raw,
      raw_encoding: raw.encoding,
      source_partition: this.partition,
      source_offset: rec.offset,
      received_at_ms: receivedAtMs,
    });
    this.deadLetters++;
    this.out.deadLetterCodes.set(r.code, (this.out.deadLetterCodes.get(r.code) ?? 0) + 1);
  }

  onWatermark(engineWatermarkMs: number, idle: boolean): void {
    // After the end of input the windows written early stay as written: only a later run closes them.
    if (this.ended || !idle || engineWatermarkMs <= this.watermark) return;
    this.watermark = engineWatermarkMs;
    if (this.windows.advance(engineWatermarkMs, this.emitRow) > 0) this.dirty = true;
  }

  onTick(_nowMs: number): void {
    // Nothing on a timer: duplicates live in the dedupe index, windows move with the watermark.
  }

  get watermarkMs(): number {
    return this.watermark;
  }

  /** The offset it reads next: processBatch skips records below it (replays). */
  get nextOffsetToRead(): number {
    return this.nextOffset;
  }

  get openWindows(): number {
    return this.windows.openWindows;
  }

  flush(): Checkpoint | null {
    if (!this.dirty) return null;
    this.dirty = false;
    return this.checkpoint();
  }

  /**
   * End of input: every open window is written as it stands, so the run's results are complete, but stays
   * open. A later run (more lines in the file, more records on the topic) resumes from the same boundary,
   * counts what arrives in those windows, and rewrites their rows when they close (docs/SEMANTICS.md).
   */
  endOfInput(): void {
    const first = this.windows.firstOpenStart;
    if (first === Infinity) return;
    const to = this.windows.lastOpenStart + this.s.windowSizeMs;
    // Rows of windows written early before (a run that ended twice) are rewritten by emitRow, the rest added.
    this.windows.emitOpen(this.emitRow);
    this.ended = true;
    // Every window written early is open still, so the open ones are the whole provisional range.
    this.provisionalFrom = first;
    this.provisionalTo = to;
    this.dirty = true;
  }

  revoke(): Checkpoint {
    const c = this.checkpoint();
    this.close();
    return c;
  }

  close(): void {
    this.closed = true;
  }

  private checkpoint(): Checkpoint {
    const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);
    // Provisional windows the watermark has closed since have their final rows: nothing is left to rewrite.
    if (this.windows.closedThrough >= this.provisionalTo) {
      this.provisionalFrom = NaN;
      this.provisionalTo = NaN;
      this.written.clear();
    }
    return {
      partition: this.partition,
      nextOffset: this.nextOffset,
      maxEventMs: fin(this.maxTs),
      watermarkMs: fin(this.watermark),
      closedThroughMs: fin(this.windows.closedThrough),
      provisionalFromMs: fin(this.provisionalFrom),
      provisionalToMs: fin(this.provisionalTo),
      events: this.events,
      deadLetters: this.deadLetters,
      duplicates: this.duplicates,
      lateEvents: this.late,
      windowRows: this.windowRows,
      lastRecordHash: this.lastRecordHash,
      windowSizeMs: this.s.windowSizeMs,
    };
  }
}

function writtenKey(windowStart: number, eventType: number, levelId: number | null): string {
  return `${windowStart}|${eventType}|${levelId}`;
}
