import { GpuStatus } from './GpuStatus.tsx';

export function App() {
  return (
    <main>
      <h1>Merge Studio</h1>
      <GpuStatus />
    </main>
  );
}
