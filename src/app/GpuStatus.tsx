import { useEffect, useState } from 'react';
import { acquireGpu, describeAdapter, type GpuCapabilities } from '../core/gpu/device.ts';
import { KernelRunner } from '../core/gpu/runner.ts';
import { runGpuSelfTest, type GpuSelfTestResult } from '../core/gpu/selftest.ts';
import { useGpuView } from './GpuNotice.tsx';

type Status =
  | { state: 'probing' }
  | { state: 'unavailable'; reason: string }
  | { state: 'ready'; runner: KernelRunner; capabilities: GpuCapabilities };

function mib(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}

/** Which compute backend the studio will use, and a one-click check that its kernels match the CPU. */
export function GpuStatus() {
  const [status, setStatus] = useState<Status>({ state: 'probing' });
  const [selfTest, setSelfTest] = useState<GpuSelfTestResult | 'running' | { error: string } | null>(null);
  // A lost device is dropped; a recovery (epoch) probes again.
  const epoch = useGpuView((v) => v.epoch);
  const lost = useGpuView((v) => v.lost);

  useEffect(() => {
    let cancelled = false;
    setStatus({ state: 'probing' });
    setSelfTest(null);
    acquireGpu().then((found) => {
      if (cancelled) {
        if (found.ok) found.gpu.device.destroy();
        return;
      }
      setStatus(found.ok ? { state: 'ready', runner: new KernelRunner(found.gpu), capabilities: found.gpu.capabilities } : { state: 'unavailable', reason: found.reason });
    });
    return () => {
      cancelled = true;
    };
  }, [epoch]);

  if (lost) return <section aria-label="GPU status"><p role="status" data-testid="gpu-status" data-gpu="lost">GPU device lost — using the CPU path</p></section>;

  if (status.state === 'probing') return <section aria-label="GPU status"><p>Looking for a WebGPU adapter…</p></section>;
  if (status.state === 'unavailable') {
    return (
      <section aria-label="GPU status">
        <p role="status" data-testid="gpu-status" data-gpu="unavailable">WebGPU unavailable — using the CPU path</p>
        <p><small>{status.reason}</small></p>
      </section>
    );
  }

  const caps = status.capabilities;
  const runSelfTest = () => {
    setSelfTest('running');
    runGpuSelfTest(status.runner).then(setSelfTest, (e: unknown) => setSelfTest({ error: String((e as Error).message ?? e) }));
  };
  return (
    <section aria-label="GPU status">
      <p role="status" data-testid="gpu-status" data-gpu="ready">
        WebGPU adapter: <strong>{describeAdapter(caps)}</strong> · shader-f16: {caps.features.shaderF16 ? 'yes' : 'no'} · max binding {mib(caps.limits.maxStorageBufferBindingSize)} (using {mib(caps.bindingBudget)} per binding)
      </p>
      <button type="button" onClick={runSelfTest} disabled={selfTest === 'running'}>GPU self-test</button>{' '}
      <span data-testid="gpu-selftest">
        {selfTest === null ? '' : selfTest === 'running' ? 'running…' : 'error' in selfTest ? `self-test error: ${selfTest.error}`
          : `${selfTest.passed ? 'pass' : 'FAIL'} (${selfTest.milliseconds.toFixed(0)} ms)`}
      </span>
      {selfTest !== null && selfTest !== 'running' && 'checks' in selfTest && (
        <ul data-testid="gpu-selftest-checks">
          {selfTest.checks.map((c) => (
            <li key={c.name} data-passed={c.passed}>{c.passed ? '✓' : '✗'} {c.name}: {c.detail}</li>
          ))}
        </ul>
      )}
    </section>
  );
}
