import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { precompileTileKernels } from '../core/simd/tiles.ts';

// Chrome versions that refuse synchronous compiles over 4 KB on the main thread would leave the CPU
// kernels here (the GPU self-test's CPU references) on the JS twins: compile them asynchronously.
void precompileTileKernels();

createRoot(document.getElementById('root')!).render(<App />);
