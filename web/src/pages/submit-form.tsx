import { useState } from 'preact/hooks';
import type { JobSpecInput } from '../../../src/core/job-spec.js';
import { GpuqApiError } from '../api.js';
import { notify } from '../components.js';
import { navigate } from '../router.js';
import { useSession } from '../session.js';

/** Submits one job through POST /v1/jobs, as `gpuq submit` does: a shell command line, or a noop. */
export function SubmitForm(props: { onDone: () => void }) {
  const { client } = useSession();
  const [f, setF] = useState({ name: '', queue: 'default', shell: '', gpus: '0', priority: '0', maxAttempts: '1', noop: false });
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const field = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).type === 'checkbox' ? (e.target as HTMLInputElement).checked : (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setProblems([]);
    const spec: JobSpecInput = {
      ...(f.name.trim() ? { name: f.name.trim() } : {}),
      queue: f.queue.trim() || 'default',
      ...(f.noop ? { type: 'noop' as const } : { shell: f.shell }),
      gpus: Number(f.gpus),
      priority: Number(f.priority),
      maxAttempts: Number(f.maxAttempts),
    };
    try {
      const { job } = await client.submit(spec);
      notify(`Submitted job ${job.id} (${job.name})`);
      props.onDone();
      navigate(`/jobs/${job.id}`);
    } catch (err) {
      if (err instanceof GpuqApiError) setProblems(err.issues.length > 0 ? err.issues.map((i) => `${i.path || 'spec'}: ${i.message}`) : [`${err.message} [${err.code}]`]);
      else setProblems([err instanceof Error ? err.message : String(err)]);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="submit-form" onSubmit={(e) => void submit(e)} data-testid="submit-form">
      <label>
        name
        <input value={f.name} onInput={field('name')} placeholder="(from the command)" data-testid="submit-name" />
      </label>
      <label>
        queue
        <input value={f.queue} onInput={field('queue')} data-testid="submit-queue" />
      </label>
      <label class="wide">
        shell command
        <input value={f.shell} onInput={field('shell')} placeholder="python train.py --epochs 3" disabled={f.noop} data-testid="submit-shell" />
      </label>
      <label>
        GPUs
        <input type="number" min="0" max="64" value={f.gpus} onInput={field('gpus')} data-testid="submit-gpus" />
      </label>
      <label>
        priority
        <input type="number" value={f.priority} onInput={field('priority')} />
      </label>
      <label>
        max attempts
        <input type="number" min="1" max="100" value={f.maxAttempts} onInput={field('maxAttempts')} data-testid="submit-attempts" />
      </label>
      <label class="check">
        <input type="checkbox" checked={f.noop} onChange={field('noop')} /> noop (runs nothing)
      </label>
      <div class="submit-actions">
        <button type="submit" class="btn primary" disabled={busy} data-testid="submit-job">
          {busy ? 'Submitting…' : 'Submit'}
        </button>
        <button type="button" class="btn" onClick={props.onDone}>
          Close
        </button>
      </div>
      {problems.length > 0 ? (
        <ul class="error-note" role="alert" data-testid="submit-problems">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
    </form>
  );
}
