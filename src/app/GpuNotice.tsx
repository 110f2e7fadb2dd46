// The worker's GPU as the page sees it: when a device is lost, a notice says the studio went on on
// the CPU and offers "Retry GPU". The page's own device (GpuStatus's self-test) is watched too.
import { useEffect } from 'react';
import { create } from 'zustand';
import { destroyAllDevices, onDeviceLost, type DeviceLoss } from '../core/gpu/device.ts';
import { callback, engine, errorText } from './engine-client.ts';
import type { GpuState } from '../worker/engine.ts';

interface GpuView {
  /** The worker's loss, or the page's, while not recovered. */
  lost: DeviceLoss | null;
  retrying: boolean;
  retryError: string | null;
  /** Bumped after a recovery, so the page's GPU status probes again. */
  epoch: number;
  restored: boolean;
}

export const useGpuView = create<GpuView>()(() => ({ lost: null, retrying: false, retryError: null, epoch: 0, restored: false }));

let watching = false;
function watch(): void {
  if (watching) return;
  watching = true;
  void engine().watchGpu(callback((state: GpuState) => {
    useGpuView.setState((v) => ({ lost: state.lost, restored: !state.lost && v.lost !== null ? true : v.restored }));
  }));
  onDeviceLost((loss) => useGpuView.setState({ lost: loss, restored: false }));
  // Test and development builds (or ?test-hooks) can simulate a loss: every device of the tab and
  // of the engine worker is destroyed, which is what a driver reset looks like to the page.
  if (import.meta.env.DEV || new URLSearchParams(location.search).has('test-hooks')) {
    (window as unknown as { __studioTest?: object }).__studioTest = {
      loseGpu: async () => (await engine().loseGpuForTest()) + destroyAllDevices(),
    };
  }
}

export async function retryGpu(): Promise<void> {
  useGpuView.setState({ retrying: true, retryError: null });
  try {
    const state = await engine().retryGpu();
    useGpuView.setState((v) => ({ lost: state.lost, retrying: false, epoch: v.epoch + 1, restored: !state.lost, retryError: state.lost ? state.lost.message : null }));
  } catch (err) {
    useGpuView.setState({ retrying: false, retryError: errorText(err) });
  }
}

export function GpuNotice() {
  useEffect(watch, []);
  const { lost, retrying, retryError, restored } = useGpuView();
  if (!lost) {
    return restored ? <p role="status" className="gpu-notice ok" data-testid="gpu-notice" data-state="restored">GPU restored: merges and evaluations run on WebGPU again.</p> : null;
  }
  return (
    <div role="alert" className="gpu-notice" data-testid="gpu-notice" data-state="lost">
      <strong>The GPU device was lost</strong> ({lost.message}). Merges, evaluations and diagnostics now run on the CPU (slower, same results).{' '}
      <button type="button" onClick={() => void retryGpu()} disabled={retrying}>{retrying ? 'Retrying…' : 'Retry GPU'}</button>
      {retryError && <span className="error"> {retryError}</span>}
    </div>
  );
}
