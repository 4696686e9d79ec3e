import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, StartResult } from '../src/bootstrap/start-service';

function capture(): { write(t: string): void; text(): string } {
  const chunks: string[] = [];
  return { write: (t: string) => void chunks.push(t), text: () => chunks.join('') };
}

describe(startService.name, () => {
  it('refuses production with nothing set, naming each missing variable on its own line', async () => {
    const stdout = capture();
    const stderr = capture();
    const result = await startService({ NODE_ENV: 'production' }, { stdout, stderr });
    expect(result).toEqual({ ok: false, exitCode: 1 });
    const lines = stderr
      .text()
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
    expect(lines.map((l) => l.split(':')[0])).toEqual(
      expect.arrayContaining(['PUBLIC_BASE_URL', 'API_KEYS', 'ENFORCE_HTTPS']),
    );
    expect(stdout.text()).toBe('');
  });

  it('never prints a provided secret when configuration is invalid', async () => {
    const stderr = capture();
    await startService(
      {
        NODE_ENV: 'test',
        STRIPE_API_KEY: 'sk_test_topsecretvalue',
        API_KEYS: 'ops:short-secret-val:admin',
      },
      { stdout: capture(), stderr },
    );
    expect(stderr.text()).toMatch(/STRIPE_WEBHOOK_SECRET: /);
    expect(stderr.text()).not.toMatch(/topsecretvalue|short-secret-val/);
  });

  describe('on embedded defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-boot-'));
    const dbPath = join(dir, 'nested', 'switchboard.db');
    const stdout = capture();
    let result: StartResult;
    let base: string;

    beforeAll(async () => {
      result = await startService(
        {
          NODE_ENV: 'development',
          PORT: '0',
          DATABASE_URL: `sqlite:${dbPath}`,
          LOG_LEVEL: 'silent',
          SANDBOX: 'false',
        },
        { stdout, stderr: capture() },
      );
      if (!result.ok) throw new Error('did not start');
      base = (await result.app.getUrl()).replace('[::1]', '127.0.0.1');
    });
    afterAll(async () => {
      if (result?.ok) await result.app.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates the database file and its folder, and is ready', async () => {
      expect(existsSync(dbPath)).toBe(true);
      const ready = await fetch(`${base}/health/ready`);
      expect(ready.status).toBe(200);
    });

    it('prints one development key with every scope, which then works', async () => {
      const match = /Development API key \(all scopes\): (\S+)/.exec(stdout.text());
      expect(match).not.toBeNull();
      expect(stdout.text().match(/Development API key/g)).toHaveLength(1);
      const res = await fetch(`${base}/jobs-or-anything-else`, {
        headers: { authorization: `Bearer ${match?.[1]}` },
      });
      expect(res.status).toBe(404);
      expect(res.headers.get('x-request-id')).toBeTruthy();
    });

    it('serves the Swagger UI and the OpenAPI document', async () => {
      const ui = await fetch(`${base}/docs`, { redirect: 'follow' });
      expect(ui.status).toBe(200);
      expect(await ui.text()).toMatch(/swagger/i);
      const doc = await fetch(`${base}/docs/openapi.json`);
      expect(doc.status).toBe(200);
      const json = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
      expect(json.openapi).toMatch(/^3\./);
      expect(Object.keys(json.paths)).toEqual(
        expect.arrayContaining(['/health/live', '/health/ready']),
      );
    });
  });
});
