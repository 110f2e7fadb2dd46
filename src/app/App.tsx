import { useEffect } from 'react';
import { DamPanel } from './DamPanel.tsx';
import { DiagnosticsPanel } from './DiagnosticsPanel.tsx';
import { ErrorBoundary } from './ErrorBoundary.tsx';
import { EvalPanel } from './EvalPanel.tsx';
import { ExportPanel } from './ExportPanel.tsx';
import { FrontierPanel } from './FrontierPanel.tsx';
import { GpuNotice } from './GpuNotice.tsx';
import { GpuStatus } from './GpuStatus.tsx';
import { HistoryPanel } from './HistoryPanel.tsx';
import { SessionBar } from './SessionBar.tsx';
import { UndoButtons } from './UndoButtons.tsx';
import { LayerCurves } from './LayerCurves.tsx';
import { ModelsPanel } from './ModelsPanel.tsx';
import { PublishPanel } from './PublishPanel.tsx';
import { RecipePanel } from './RecipePanel.tsx';
import { SearchPanel } from './SearchPanel.tsx';
import { SettingsPanel } from './SettingsPanel.tsx';
import { StackPanel } from './StackPanel.tsx';
import { startLiveLoop } from './store.ts';
import { YamlPanel } from './YamlPanel.tsx';
import './studio.css';

export function App() {
  useEffect(() => startLiveLoop(), []);
  return (
    <>
      <header className="top">
        <h1>Merge Studio</h1>
        <ErrorBoundary name="Undo"><UndoButtons /></ErrorBoundary>
        <ErrorBoundary name="Session"><SessionBar /></ErrorBoundary>
        <SettingsPanel />
      </header>
      <GpuNotice />
      <main className="studio">
        <div className="col">
          <ErrorBoundary name="Models"><ModelsPanel /></ErrorBoundary>
          <ErrorBoundary name="Recipe"><RecipePanel /></ErrorBoundary>
          <ErrorBoundary name="Recipe YAML"><YamlPanel /></ErrorBoundary>
        </div>
        <div className="col">
          <ErrorBoundary name="Per-layer coefficients"><LayerCurves /></ErrorBoundary>
          <ErrorBoundary name="Layer stacking"><StackPanel /></ErrorBoundary>
          <ErrorBoundary name="Live evaluation"><EvalPanel /></ErrorBoundary>
          <ErrorBoundary name="Frontier"><FrontierPanel /></ErrorBoundary>
          <ErrorBoundary name="History"><HistoryPanel /></ErrorBoundary>
        </div>
        <div className="col wide">
          <ErrorBoundary name="Export"><ExportPanel /></ErrorBoundary>
          <ErrorBoundary name="Publish"><PublishPanel /></ErrorBoundary>
          <ErrorBoundary name="Search"><SearchPanel /></ErrorBoundary>
          <ErrorBoundary name="DAM"><DamPanel /></ErrorBoundary>
          <ErrorBoundary name="Diagnostics"><DiagnosticsPanel /></ErrorBoundary>
          <ErrorBoundary name="GPU"><section className="panel"><h2>GPU</h2><GpuStatus /></section></ErrorBoundary>
        </div>
      </main>
    </>
  );
}
