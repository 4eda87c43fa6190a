/**
 * deploy/compose.yaml, the whole stack for Docker users. No Docker engine runs here and no registry image can
 * be pulled, so the stack is not started; what is checked is everything short of that: the file passes
 * docker-compose's own validation (`docker-compose config`, schema and interpolation), the gamestream
 * services' environments are ones the daemon and the tracking server accept (they refuse unknown GAMESTREAM_*
 * names), and the services line up with each other: brokers, topics, ports, health checks, stop grace, the
 * Prometheus scrape targets and rules (promtool), Grafana's provisioning and the mounted files.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARS } from '../../src/config/schema.ts';
import { daemonConfig, imageEnv, ingestConfig, must, parseYaml, REPO_ROOT, repoFile, run } from './deploy-files.ts';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | number | null>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  shm_size?: string;
}

const COMPOSE = join(REPO_ROOT, 'deploy/compose.yaml');
const API_KEYS = 'mygame:compose-test-key-0123456789';
let services: Record<string, Service>;
const tmp = mkdtempSync(join(tmpdir(), 'gs-compose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** docker-compose's own reading of the file: validated against the Compose schema, variables interpolated. */
async function composeConfig(env: NodeJS.ProcessEnv): Promise<{ code: number | null; text: string }> {
  const r = await run('docker-compose', ['-f', COMPOSE, 'config'], { env, cwd: dirname(COMPOSE), timeoutMs: 60_000 });
  return { code: r.code, text: r.code === 0 ? r.stdout : r.stderr };
}

const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GAMESTREAM_')) env[k] = v;
  return env;
};

beforeAll(async () => {
  const r = await composeConfig({ ...baseEnv(), GAMESTREAM_INGEST_API_KEYS: API_KEYS });
  if (r.code !== 0) throw new Error(`docker-compose config refused deploy/compose.yaml:\n${r.text}`);
  services = (parseYaml(r.text) as { services: Record<string, Service> }).services;
});

/** A service's environment as its process sees it: the image's ENV, then the service's. */
function processEnv(s: Service): Record<string, string> {
  const env = { ...imageEnv() };
  for (const [k, v] of Object.entries(s.environment ?? {})) env[k] = v === null ? '' : String(v);
  return env;
}

/** host:port[/proto] → container port, for `127.0.0.1:9464:9464/tcp`. */
function published(s: Service): { host: string; hostPort: number; containerPort: number }[] {
  return (s.ports ?? []).map((p) => {
    const m = /^(?:([\d.]+):)?(\d+):(\d+)(?:\/tcp)?$/.exec(p);
    if (!m) throw new Error(`unexpected port mapping ${p}`);
    return { host: m[1] ?? '0.0.0.0', hostPort: Number(m[2]), containerPort: Number(m[3]) };
  });
}

/** Bind mounts: host path → container path (named volumes left out). */
function binds(s: Service): { host: string; container: string }[] {
  return (s.volumes ?? []).flatMap((v) => {
    const [host, container] = v.split(':');
    return host!.startsWith('/') ? [{ host: host!, container: container! }] : [];
  });
}

const seconds = (d: string): number => {
  const m = /^(\d+)(s|m)$/.exec(d);
  if (!m) throw new Error(`unexpected duration ${d}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};

describe('deploy/compose.yaml', () => {
  it('passes docker-compose config, and refuses to start the tracking server without an API key', async () => {
    expect(Object.keys(services).sort()).toEqual(['gamestream', 'grafana', 'ingest', 'kafka', 'prometheus']);
    const r = await composeConfig(baseEnv());
    expect(r.code).not.toBe(0);
    expect(r.text).toContain('set GAMESTREAM_INGEST_API_KEYS=app:key');
  });

  it('builds the gamestream services from the Containerfile, and runs the daemon and the tracking server from it', () => {
    for (const name of ['gamestream', 'ingest']) {
      const s = services[name]!;
      expect(resolve(s.build!.context, s.build!.dockerfile)).toBe(join(REPO_ROOT, 'Containerfile'));
      expect(s.image).toBe(services.gamestream!.image);
    }
    expect(services.gamestream!.command).toEqual(['run']);
    expect(services.ingest!.command).toEqual(['ingest']);
  });

  it('gives the daemon settings it accepts: Kafka in, the warehouse in its volume, metrics on the published port', () => {
    const s = services.gamestream!;
    const { config, observability } = daemonConfig(processEnv(s));
    expect(config.source.kind).toBe('kafka');
    expect(config.kafkaBrokers).toEqual(['kafka:9092']);
    // Listening beyond the container's loopback, on the port that is published and scraped.
    expect(observability.metricsHost).toBe('0.0.0.0');
    expect(published(s)).toEqual([{ host: '127.0.0.1', hostPort: observability.metricsPort, containerPort: observability.metricsPort }]);
    // The default warehouse is a path relative to the working directory, which the image makes the volume.
    expect(processEnv(s).GAMESTREAM_WAREHOUSE).toBeUndefined();
    expect(ENV_VARS.find((v) => v.name === 'GAMESTREAM_WAREHOUSE')!.default).toBe('duckdb:./data/gamestream.duckdb');
    expect(repoFile('Containerfile')).toMatch(/^WORKDIR \/var\/lib\/gamestream$/m);
    expect(s.volumes).toContain('gamestream-data:/var/lib/gamestream:rw');
    // SIGTERM drains within the shutdown timeout, plus 5 s for open handles (src/cli/main.ts, EXIT_GRACE_MS).
    expect(seconds(s.stop_grace_period!) * 1000).toBeGreaterThan(config.shutdownTimeoutMs + 5000);
    expect(s.depends_on?.kafka?.condition).toBe('service_healthy');
  });

  it('gives the tracking server settings it accepts, producing to the topic the daemon reads', () => {
    const s = services.ingest!;
    const ingest = ingestConfig(processEnv(s));
    const { config } = daemonConfig(processEnv(services.gamestream!));
    expect(ingest.brokers).toEqual(config.kafkaBrokers);
    expect(ingest.topic).toBe(config.kafkaTopic);
    expect(ingest.topicPartitions).toBe(config.kafkaRawPartitions);
    expect(ingest.apiKeys.map((k) => k.app)).toEqual(['mygame']);
    expect(ingest.host).toBe('0.0.0.0');
    expect(published(s)).toEqual([{ host: '127.0.0.1', hostPort: ingest.port, containerPort: ingest.port }]);
    expect(seconds(s.stop_grace_period!) * 1000).toBeGreaterThan(ingest.ackTimeoutMs + 10_000);
    expect(s.depends_on?.kafka?.condition).toBe('service_healthy');
  });

  it('runs Kafka in KRaft mode, advertising the address the gamestream services use, at the version the tests use', () => {
    const k = services.kafka!;
    const env = k.environment!;
    expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(String(env.KAFKA_ADVERTISED_LISTENERS)).toBe('PLAINTEXT://kafka:9092');
    expect(String(env.KAFKA_LISTENERS)).toContain('PLAINTEXT://:9092');
    expect(String(env.KAFKA_CONTROLLER_QUORUM_VOTERS)).toBe(`${env.KAFKA_NODE_ID}@kafka:9093`);
    expect(String(env.KAFKA_AUTO_CREATE_TOPICS_ENABLE)).toBe('false');
    expect(String(env.CLUSTER_ID)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // The topics are kept in a volume, as the daemon's checkpoints into them are.
    expect(k.volumes).toContain(`kafka-data:${env.KAFKA_LOG_DIRS}:rw`);
    expect(k.healthcheck!.test).toEqual(['CMD', '/opt/kafka/bin/kafka-broker-api-versions.sh', '--bootstrap-server', 'localhost:9092']);
    const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(repoFile('scripts/kafka/pom.xml'))![1];
    expect(k.image).toBe(`apache/kafka:${version}`);
  });

  it('mounts only files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const b of binds(s)) expect(existsSync(b.host), `${name}: ${b.host}`).toBe(true);
    }
  });

  it('scrapes both gamestream services under the job name the alert rules use, and its config and rules pass promtool', async () => {
    // The files as the Prometheus container sees them, then promtool on them (the rule file is found by its path
    // relative to the config, as inside the container).
    const root = join(tmp, 'prometheus');
    for (const b of binds(services.prometheus!)) {
      mkdirSync(dirname(join(root, b.container)), { recursive: true });
      cpSync(b.host, join(root, b.container));
    }
    const configPath = join(root, 'etc/prometheus/prometheus.yml');
    expect(statSync(configPath).isFile()).toBe(true);
    const check = await must('promtool', ['check', 'config', configPath]);
    expect(check).toMatch(/SUCCESS: 1 rule files found/);
    expect(check).toMatch(/SUCCESS: \d+ rules found/);

    const prom = parseYaml(repoFile('deploy/prometheus/prometheus.yml')) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    const targets = Object.fromEntries(prom.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]));
    const { observability } = daemonConfig(processEnv(services.gamestream!));
    const ingest = ingestConfig(processEnv(services.ingest!));
    expect(repoFile('monitoring/alerts.yml')).toContain('up{job="gamestream"}');
    expect(targets).toEqual({ gamestream: [`gamestream:${observability.metricsPort}`], 'gamestream-ingest': [`ingest:${ingest.port}`] });
  });

  it('provisions Grafana with the stack\'s Prometheus and the dashboard', () => {
    const g = services.grafana!;
    const mounts = binds(g);
    const provisioning = mounts.find((m) => m.container === '/etc/grafana/provisioning')!;
    expect(provisioning.host).toBe(join(REPO_ROOT, 'deploy/grafana/provisioning'));
    const ds = parseYaml(repoFile('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { type: string; url: string; isDefault: boolean }[] };
    expect(ds.datasources).toHaveLength(1);
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', isDefault: true });
    const promPort = published(services.prometheus!)[0]!.containerPort;
    expect(ds.datasources[0]!.url).toBe(`http://prometheus:${promPort}`);

    const providers = (parseYaml(repoFile('deploy/grafana/provisioning/dashboards/gamestream.yml')) as { providers: { type: string; options: { path: string } }[] }).providers;
    expect(providers).toHaveLength(1);
    const dashboard = mounts.find((m) => m.host === join(REPO_ROOT, 'monitoring/grafana-dashboard.json'))!;
    expect(dirname(dashboard.container)).toBe(providers[0]!.options.path);
    // The dashboard picks its data source through a variable of type prometheus: the provisioned default.
    const vars = (JSON.parse(repoFile('monitoring/grafana-dashboard.json')) as { templating: { list: { type: string; query: string }[] } }).templating.list;
    expect(vars).toContainEqual(expect.objectContaining({ type: 'datasource', query: 'prometheus' }));
  });
});
