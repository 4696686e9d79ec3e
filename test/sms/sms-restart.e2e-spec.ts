import { randomBytes } from 'node:crypto';
import { Clock } from '../../src/common/clock';
import { SmsService, UNKNOWN_OUTCOME_RETRY_MS } from '../../src/sms/sms.service';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { queueTargets } from '../helpers/test-mode';
import { freePort } from '../helpers/free-port';
import { SmsTestApp, startSmsApp, startTwilioSandbox, TO, TwilioSandbox } from './sms-test-app';

/** Short leases, so the second process takes over a job the first one left `running` within a test. */
const RESTART_JOB_OPTIONS = {
  leaseMs: 300,
  shutdownTimeoutMs: 50,
  pollIntervalMs: 25,
  sweepIntervalMs: 25,
  sweepGraceMs: 0,
};
// Longer than the test: the request stays hung until the first app goes down.
const RESTART_ENV = { PROVIDER_TIMEOUT_MS: '10000' };

describeEachDialect(`${SmsService.name} restart`, (target) => {
  describe.each(queueTargets())('jobs: $driver', ({ env }) => {
    let database: TestDatabase;
    let sandbox: TwilioSandbox;
    let first: SmsTestApp | undefined;
    let second: SmsTestApp | undefined;

    beforeAll(async () => {
      database = await target.create();
      sandbox = await startTwilioSandbox();
    });
    afterAll(async () => {
      jest.restoreAllMocks();
      await first?.close().catch(() => undefined);
      await second?.close();
      await sandbox?.server.stop();
      await database?.drop();
    });

    it('sends a message accepted by a process that stopped before Twilio answered', async () => {
      const port = await freePort();
      const bullmqPrefix = `sb-sms-restart-${randomBytes(4).toString('hex')}`;
      const options = {
        database,
        twilioUrl: sandbox.url,
        port,
        bullmqPrefix,
        env: { ...env, ...RESTART_ENV },
        jobOptions: RESTART_JOB_OPTIONS,
      };
      first = await startSmsApp(options);
      sandbox.server.queueFaults([{ kind: 'hang' }]);

      const res = await first.post({ to: TO, body: 'survives a restart' });
      expect(res.statusCode).toBe(202);
      const { id } = res.json<{ id: string }>();
      // The send is in flight (Twilio never answers it) when the process goes away.
      for (let i = 0; i < 1000 && sandbox.server.requests().length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(sandbox.server.requests().map((r) => r.status)).toEqual(['hang']);
      await first.close();
      first = undefined;

      // The first process's request went unanswered, so its job may wait for Twilio's callback
      // before sending again (none comes: the hung request was never handled). The second
      // process lives that much later, from its first instant: a clock that jumped while it ran
      // would make its own leases look expired.
      const later = jest
        .spyOn(Clock.prototype, 'now')
        .mockImplementation(() => new Date(Date.now() + UNKNOWN_OUTCOME_RETRY_MS));
      try {
        second = await startSmsApp(options);
      } catch (err) {
        later.mockRestore();
        throw err;
      }
      const row = () =>
        second!.db
          .selectFrom('sms_messages')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
      // No event marks the first process's lease running out, nor (BullMQ) its stalled message
      // being released, so look again, briefly, a bounded number of times. whenIdle() is not used:
      // on BullMQ it also waits for that stalled message, which only BullMQ's stall check (30 s) frees.
      const until = async (done: (r: Awaited<ReturnType<typeof row>>) => boolean) => {
        for (let i = 0; i < 1000 && !done(await row()); i++) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      await until((r) => r.provider_id !== null);
      await sandbox.server.whenDeliveriesIdle();
      await until((r) => r.status === 'delivered');

      expect(await row()).toMatchObject({ status: 'delivered', attempts: 2 });
      const created = sandbox.emulator.state().messages;
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({ to: TO, body: 'survives a restart' });
    });
  });
});
