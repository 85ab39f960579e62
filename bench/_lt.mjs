import { ProcessLauncher } from '../dist/agent/launcher/launcher.js';
import { startAttempt } from '../dist/agent/executor.js';
import { pino } from 'pino';
const N = 2000;
for (const mode of ['launcher', 'inproc']) for (const conc of [4, 16, 64]) {
  const l = mode === 'launcher' ? await ProcessLauncher.start(pino({ level: 'silent' })) : { startAttempt: (r) => startAttempt({ ...r, now: () => Date.now() }), stop: async () => {} };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < N) {
      const i = next++;
      await l.startAttempt({ attemptId: 1e6 + i, jobId: i, attemptNumber: 1, argv: ['/bin/true'], env: {}, devices: [], logPath: `/tmp/lt/jobs/${i}/a.log`, artifactsDir: `/tmp/lt/jobs/${i}/art`, logCapBytes: 1e6, killGraceMs: 1000 }).done;
    }
  }));
  console.log(mode, 'conc', conc, Math.round(N / ((performance.now() - t0) / 1000)), '/s');
  await l.stop();
}
