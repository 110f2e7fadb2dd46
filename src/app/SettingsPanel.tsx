import { useStudio } from './store.ts';

export function SettingsPanel() {
  const settings = useStudio((s) => s.settings);
  const { updateSettings } = useStudio.getState();
  return (
    <details className="settings">
      <summary>Settings</summary>
      <form onSubmit={(e) => e.preventDefault()} aria-label="Hub settings">
        <label>Hub URL <input value={settings.hubUrl} onChange={(e) => updateSettings({ hubUrl: e.target.value })} spellCheck={false} size={28} /></label>
        <label>Hub token <input type="password" value={settings.token} onChange={(e) => updateSettings({ token: e.target.value })} autoComplete="off" placeholder="hf_…" size={20} /></label>
        <label>Hub timeout (s) <input value={settings.hubTimeout} onChange={(e) => updateSettings({ hubTimeout: e.target.value })} placeholder="30 + 60, stall 60" inputMode="decimal" size={10} /></label>
        <label title="Off: every read goes to the Hub, and browser storage is left to exports"><input type="checkbox" checked={settings.hubCache} onChange={(e) => updateSettings({ hubCache: e.target.checked })} /> cache Hub files in this browser</label>
        <label><input type="checkbox" checked={settings.remember} onChange={(e) => updateSettings({ remember: e.target.checked })} /> remember the token</label>
        <small className="muted" data-testid="token-storage">
          {settings.remember ? 'The token is stored in this browser\'s localStorage.' : 'The token is kept in memory only and forgotten when the page closes.'}
        </small>
      </form>
    </details>
  );
}
