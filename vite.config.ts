import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The studio is a static SPA; public/ (including the demo zoo) is served as-is.
export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  build: { target: 'es2022', outDir: 'dist', chunkSizeWarningLimit: 2000 },
  server: { host: '127.0.0.1' },
});
