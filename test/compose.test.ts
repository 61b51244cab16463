import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { connectionOptions, runOptions } from '../src/config.js';
import { packageRoot } from '../src/paths.js';

const onPath = (name: string) => (process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, name)));
const missing = !onPath('docker-compose') ? 'docker-compose is not installed (apt-get install docker-compose); CI installs it' : false;
const skip = missing && !process.env.CI ? missing : false;

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  ports?: { published: number | string; target: number }[];
  volumes?: { type: string; source: string; target: string }[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
}

/** docker-compose's own normalised view of the file, as JSON. */
function normalisedConfig(): { services: Record<string, Service> } {
  const yaml = execFileSync('docker-compose', ['-f', join(packageRoot, 'docker-compose.yml'), 'config'], { cwd: packageRoot, encoding: 'utf8' });
  const json = execFileSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: yaml, encoding: 'utf8' });
  return JSON.parse(json);
}

describe('docker-compose.yml', { skip }, () => {
  assert.ok(!missing, 'CI must have docker-compose installed (.ci/run installs the Debian package)');
  const { services } = normalisedConfig();

  it('has the services of the stack', () => {
    assert.deepEqual(Object.keys(services).sort(), ['grafana', 'migrate', 'postgres', 'producer', 'prometheus', 'supervisor']);
    assert.equal(services.supervisor!.deploy?.replicas, 2);
  });

  it('names only images with a pinned tag, and builds from this repository', () => {
    for (const [name, service] of Object.entries(services)) {
      assert.match(service.image ?? '', /^[\w./-]+:[\w.-]+$/, `${name} names an image with a tag`);
      assert.doesNotMatch(service.image ?? '', /:latest$/, `${name} pins its image`);
      if (service.build) {
        assert.equal(relative(packageRoot, service.build.context), '', `${name} builds from the repository root`);
        assert.ok(existsSync(join(service.build.context, service.build.dockerfile ?? 'Dockerfile')));
      }
    }
  });

  it('copies into the image only files that exist', () => {
    const dockerfile = readFileSync(join(packageRoot, 'Dockerfile'), 'utf8');
    for (const [, sources] of dockerfile.matchAll(/^COPY\s+(.+)\s+\S+$/gm)) {
      for (const source of sources!.split(/\s+/)) assert.ok(existsSync(join(packageRoot, source)), `Dockerfile copies ${source}`);
    }
  });

  it('mounts only files and folders of the repository', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        if (volume.type === 'bind') assert.ok(existsSync(volume.source), `${name} mounts ${volume.source}`);
      }
    }
  });

  it('publishes each host port once', () => {
    const ports = Object.values(services).flatMap((s) => (s.ports ?? []).map((p) => String(p.published)));
    assert.deepEqual(ports.sort(), [...new Set(ports)].sort());
  });

  it('starts in order with health checks', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) assert.ok(services[dependency], `${name} depends on ${dependency}`);
    }
    assert.equal(services.migrate!.depends_on?.postgres?.condition, 'service_healthy');
    assert.equal(services.supervisor!.depends_on?.migrate?.condition, 'service_completed_successfully');
    assert.ok(services.postgres!.healthcheck && services.supervisor!.healthcheck);
    assert.match(services.supervisor!.healthcheck!.test.join(' '), /\/readyz/);
  });

  it('runs the supervisor with flags it knows and files that exist', () => {
    const flags = new Set(Object.values({ ...connectionOptions, ...runOptions }).flatMap((s) => [`--${s.flag}`, `--no-${s.flag}`]));
    const command = services.supervisor!.command ?? [];
    for (const arg of command.filter((a) => a.startsWith('--'))) assert.ok(flags.has(arg), `supervisor knows ${arg}`);
    assert.ok(existsSync(join(packageRoot, command[command.indexOf('--tasks') + 1]!)));
    assert.ok(existsSync(join(packageRoot, services.producer!.entrypoint![1]!)));
  });

  it('gives Prometheus a valid configuration', { skip: !onPath('promtool') && !process.env.CI ? 'promtool is not installed (apt-get install prometheus); CI installs it' : false }, () => {
    assert.ok(onPath('promtool'), 'CI must have promtool (.ci/run installs the Debian package prometheus)');
    execFileSync('promtool', ['check', 'config', join(packageRoot, 'prometheus', 'prometheus.yml')], { stdio: 'pipe' });
  });
});
