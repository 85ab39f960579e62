import type { ArtifactEntry } from '../../../src/core/job-output.js';
import { describeError } from '../api.js';
import { notify } from '../components.js';
import { bytes } from '../format.js';
import { useSession } from '../session.js';

/** An attempt's artifact files; a download is fetched with the session's token, then saved from memory. */
export function Artifacts(props: { jobId: number; attempt: number; artifacts: ArtifactEntry[] }) {
  const { client } = useSession();
  if (props.artifacts.length === 0) return <p class="muted">No artifacts ($GPUQ_ARTIFACTS_DIR was empty).</p>;
  const download = async (name: string) => {
    try {
      const res = await client.fetchRaw(`/v1/jobs/${props.jobId}/artifacts/${encodeURIComponent(name)}?attempt=${props.attempt}`);
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = name.split('/').pop() ?? name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      notify(`Download of ${name}: ${describeError(e)}`, 'error');
    }
  };
  return (
    <table class="grid-table compact" data-testid="artifacts">
      <tbody>
        {props.artifacts.map((f) => (
          <tr key={f.name}>
            <td>
              <button type="button" class="link" onClick={() => void download(f.name)}>
                {f.name}
              </button>
            </td>
            <td class="num">{bytes(f.bytes)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
