import { useEffect } from 'react';
import { DamPanel } from './DamPanel.tsx';
import { tryDemo } from './demo.ts';
import { DiagnosticsPanel } from './DiagnosticsPanel.tsx';
import { Dock, openDock } from './Dock.tsx';
import { ErrorBoundary } from './ErrorBoundary.tsx';
import { EvalPanel, TasksPanel } from './EvalPanel.tsx';
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
import { startLiveLoop, useStudio } from './store.ts';
import { YamlPanel } from './YamlPanel.tsx';
import './studio.css';

/** The side column's steps, in the order a user goes through them. */
const STEPS = [
  { id: 'models', title: 'Models' },
  { id: 'recipe', title: 'Recipe' },
  { id: 'tasks', title: 'Tasks' },
  { id: 'search', title: 'Search' },
  { id: 'dam', title: 'DAM' },
  { id: 'export', title: 'Export' },
] as const;

function DemoButton() {
  const catalog = useStudio((s) => s.catalog);
  const adding = useStudio((s) => s.adding.length > 0);
  if (!catalog?.models.length) return null;
  return (
    <button type="button" className="demo-button" disabled={adding} onClick={() => void tryDemo()}
      title="Load the tiny-llama base with two experts, tick their tasks and evaluate the merge">Try the demo</button>
  );
}

export function App() {
  useEffect(() => startLiveLoop(), []);
  return (
    <>
      <header className="top">
        <h1>Merge Studio</h1>
        <nav className="step-nav" aria-label="Steps">
          {STEPS.map((s, i) => <button key={s.id} type="button" onClick={() => openDock(s.id)}><span className="step-no">{i + 1}</span> {s.title}</button>)}
        </nav>
        <DemoButton />
        <SettingsPanel />
      </header>
      <ErrorBoundary name="Session"><SessionBar /></ErrorBoundary>
      <GpuNotice />
      <main className="studio">
        <aside className="side" aria-label="Steps: models, recipe, tasks, search, DAM, export">
          <Dock id="models" title="Models" step={1}><ErrorBoundary name="Models"><ModelsPanel /></ErrorBoundary></Dock>
          <Dock id="recipe" title="Recipe" step={2}><ErrorBoundary name="Recipe"><RecipePanel /></ErrorBoundary></Dock>
          <Dock id="yaml" title="Recipe YAML"><ErrorBoundary name="Recipe YAML"><YamlPanel /></ErrorBoundary></Dock>
          <Dock id="tasks" title="Tasks" step={3}><ErrorBoundary name="Tasks"><TasksPanel /></ErrorBoundary></Dock>
          <Dock id="search" title="Search" step={4}><ErrorBoundary name="Search"><SearchPanel /></ErrorBoundary></Dock>
          <Dock id="dam" title="DAM" step={5}><ErrorBoundary name="DAM"><DamPanel /></ErrorBoundary></Dock>
          <Dock id="export" title="Export" step={6}><ErrorBoundary name="Export"><ExportPanel /></ErrorBoundary></Dock>
          <Dock id="publish" title="Publish"><ErrorBoundary name="Publish"><PublishPanel /></ErrorBoundary></Dock>
          <Dock id="gpu" title="GPU"><ErrorBoundary name="GPU"><section className="panel"><h2>GPU</h2><GpuStatus /></section></ErrorBoundary></Dock>
        </aside>
        <div className="work" data-testid="workspace">
          <div className="work-toolbar" role="toolbar" aria-label="Recipe edits">
            <ErrorBoundary name="Undo"><UndoButtons /></ErrorBoundary>
            <span className="muted" title="Every change of the recipe: method, parameters, curves, models">Ctrl+Z / Ctrl+Shift+Z</span>
          </div>
          <ErrorBoundary name="Per-layer coefficients"><LayerCurves /></ErrorBoundary>
          <ErrorBoundary name="Layer stacking"><StackPanel /></ErrorBoundary>
          <ErrorBoundary name="Diagnostics"><DiagnosticsPanel /></ErrorBoundary>
        </div>
        <aside className="results" aria-label="Scores, frontier and history">
          <ErrorBoundary name="Live evaluation"><EvalPanel /></ErrorBoundary>
          <ErrorBoundary name="Frontier"><FrontierPanel /></ErrorBoundary>
          <Dock id="history" title="History"><ErrorBoundary name="History"><HistoryPanel /></ErrorBoundary></Dock>
        </aside>
      </main>
    </>
  );
}
