import { BackupArchiver, type ArchiverOptions, type PartitionLag } from '../backup/index.js';

/** The backup service as the demo runs it: in process, with its lag readable synchronously for the progress line. */
export interface DemoBackup {
  /** "backup lag 3s 120 records": the RPO right now (refreshed every second). */
  lagText(): string;
  /** Closes the open segments (segment + manifest durable) and stops. */
  stop(): Promise<void>;
}

/**
 * Starts a {@link BackupArchiver} beside the demo fleet (issue 14: `npm start`
 * runs the backup service, so the demo shows backup lag). Same archiver as
 * `services/backup`; a failure is reported in the lag text, never fatal to
 * the demo.
 */
export function startDemoBackup(options: ArchiverOptions): DemoBackup {
  const archiver = new BackupArchiver(options);
  const stopper = new AbortController();
  let lag: PartitionLag[] = [];
  let failed: string | undefined;
  const running = archiver.run(stopper.signal).catch((e: unknown) => void (failed = (e as Error).message));
  const refresh = setInterval(() => {
    archiver.lag().then(
      (l) => void (lag = l),
      () => undefined,
    );
  }, 1000);
  return {
    lagText() {
      if (failed) return `backup failed: ${failed}`;
      const seconds = Math.max(0, ...lag.map((l) => l.seconds));
      const records = lag.reduce((n, l) => n + BigInt(l.records), 0n);
      return `backup lag ${seconds.toFixed(0)}s ${records} records`;
    },
    async stop() {
      clearInterval(refresh);
      stopper.abort();
      await running;
    },
  };
}
