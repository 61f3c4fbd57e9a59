/**
 * Kafka reachability, consumer lag and group members for /health, through one kafkajs admin
 * connection. Errors carry no host, port or driver message (`detail` has it, for the log).
 *
 * The answer is cached for `cacheMs` and concurrent checks share one round of requests, so
 * /health under load costs the broker a few metadata and offset requests every couple of
 * seconds, whatever the request rate. A check that takes longer than `timeoutMs` answers "not
 * reachable" at once; the slow round keeps running and its answer is cached when it comes.
 */
import type { Admin } from "kafkajs";
import type { ConsumerGroup } from "../../kafka/client.ts";
import type { GroupLag, Health } from "./model.ts";

/** A group as the probe sees it: its lag as /health shows it (`GroupLag`), and what the stall check needs besides. */
export type ProbedGroup = GroupLag & {
  /** Members of the group now (describeGroups); null when unknown. */
  members: number | null;
  /** Sum of the group's committed offsets: moves when the group makes progress. */
  position: number | null;
};

/** A partition of the topic: the first offset the log holds and its end (high watermark). */
export interface PartitionEnds {
  partition: number;
  low: number;
  high: number;
}

/**
 * The probe's answer: /health's `kafka` part with the groups as probed, each partition's ends
 * (empty when unknown), and the driver's message (`detail`, for the log only, never sent). `error`
 * says what failed, with no host, port or driver message; `checked_at` is when the answer was
 * obtained (it may be up to `cacheMs` old).
 */
export type KafkaStatus = Omit<Health["kafka"], "groups"> & { detail?: string; groups: ProbedGroup[]; partitions: PartitionEnds[] };

export interface KafkaProbeOptions {
  cacheMs?: number;
  timeoutMs?: number;
}

export class KafkaProbe {
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private connected: Promise<void> | undefined;
  /** The disconnect after a failure, awaited before connecting again. */
  private closing: Promise<void> | undefined;
  private inflight: Promise<KafkaStatus> | undefined;
  private cached: { at: number; status: KafkaStatus } | undefined;
  private partitionCount: number | undefined;

  constructor(
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly groups: ConsumerGroup[],
    opts: KafkaProbeOptions = {},
  ) {
    this.cacheMs = opts.cacheMs ?? 2_000;
    this.timeoutMs = opts.timeoutMs ?? 1_500;
  }

  /** The topic's partition count as last seen (undefined until a check found the topic). */
  get partitions(): number | undefined {
    return this.partitionCount;
  }

  async check(): Promise<KafkaStatus> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.status;
    this.inflight ??= this.probe().then((status) => {
      this.cached = { at: Date.now(), status };
      this.inflight = undefined;
      return status;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<KafkaStatus>((done) => {
      timer = setTimeout(() => done(this.failed(`Kafka brokers did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.inflight, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Disconnects the admin; waits at most `timeoutMs` (a connect still retrying is not waited for). */
  async close(): Promise<void> {
    const connected = this.connected;
    this.connected = undefined;
    if (!connected && !this.closing) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.admin.disconnect().catch(() => {}),
      new Promise<void>((done) => {
        timer = setTimeout(done, this.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private failed(error: string, detail?: string): KafkaStatus {
    return {
      ok: false,
      error,
      ...(detail ? { detail } : {}),
      topic: this.topic,
      topic_exists: false,
      groups: this.groups.map(({ role, group }) => ({ role, group, lag: null, committed: false, members: null, position: null })),
      partitions: [],
      checked_at: new Date().toISOString(),
    };
  }

  /** Never rejects: a failure is a status with ok false (and the connection is reopened next time). */
  private async probe(): Promise<KafkaStatus> {
    try {
      if (this.closing) await this.closing;
      this.closing = undefined;
      this.connected ??= this.admin.connect();
      await this.connected;
      const topics = await this.admin.listTopics();
      const members = await this.members();
      if (!topics.includes(this.topic)) {
        const groups = this.failed("").groups.map((g) => ({ ...g, members: members.get(g.group) ?? null }));
        return { ok: true, topic: this.topic, topic_exists: false, groups, partitions: [], checked_at: new Date().toISOString() };
      }
      const partitions = await this.admin.fetchTopicOffsets(this.topic);
      this.partitionCount = partitions.length;
      const groups = await Promise.all(
        this.groups.map(async ({ role, group }): Promise<ProbedGroup> => {
          const [offsets] = await this.admin.fetchOffsets({ groupId: group, topics: [this.topic] });
          const committedBy = new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
          let lag = 0;
          let committed = false;
          let position = 0;
          for (const p of partitions) {
            const high = Number(p.high);
            const at = committedBy.get(p.partition) ?? -1;
            if (at >= 0) {
              committed = true;
              position += at;
            }
            lag += Math.max(0, high - (at >= 0 ? at : Number(p.low)));
          }
          return { role, group, lag, committed, members: members.get(group) ?? null, position };
        }),
      );
      const ends = partitions.map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) })).sort((a, b) => a.partition - b.partition);
      return { ok: true, topic: this.topic, topic_exists: true, groups, partitions: ends, checked_at: new Date().toISOString() };
    } catch (err) {
      this.connected = undefined;
      this.closing = this.admin.disconnect().catch(() => {});
      return this.failed("Kafka is not reachable", err instanceof Error ? err.message : String(err));
    }
  }

  /** Members per group id (one describeGroups request for every group). */
  private async members(): Promise<Map<string, number>> {
    if (this.groups.length === 0) return new Map();
    const { groups } = await this.admin.describeGroups(this.groups.map((g) => g.group));
    return new Map(groups.map((g) => [g.groupId, g.members.length]));
  }
}
