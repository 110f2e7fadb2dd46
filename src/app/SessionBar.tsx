import { useEffect, useState } from 'react';
import { recipeToYaml } from '../core/recipe/index.ts';
import { recipeForExport } from '../worker/export-refs.ts';
import { openDemoFamily, whenCatalog } from './demo-family.ts';
import { downloadBytes } from './download.ts';
import { errorText } from './engine-client.ts';
import { startHistoryTracking } from './history.ts';
import { missingMessage, openRecipe } from './open-recipe.ts';
import { decodeRecipeLink, encodeRecipeLink, isRecipeLink, MAX_LINK_CHARS } from './recipe-link.ts';
import { clearUndo, startUndoTracking } from './recipe-undo.ts';
import { autoRestore, clearSession, enableSaving, loadSession, restoreSession, setAutoRestore, startSessionSaving, type SavedSession } from './session.ts';
import { useStudio } from './store.ts';

type Note = { kind: 'error' | 'info'; text: string } | null;

/** Opens the recipe of a `#r=` link: its models first (the demo family is not opened then), then the
 * recipe. A link that cannot be read says why, and the studio opens as usual. */
async function openLink(hash: string, say: (n: Note) => void): Promise<void> {
  const decoded = await decodeRecipeLink(hash);
  const catalog = await whenCatalog();
  if (!decoded.ok) {
    say({ kind: 'error', text: `This link's recipe was not opened: ${decoded.error}.` });
    if (useStudio.getState().models.length === 0) await openDemoFamily(catalog);
    return;
  }
  const missing = await openRecipe(decoded.recipe, false);
  clearUndo();
  say(missing.length ? { kind: 'error', text: `Opened the recipe from the link. ${missingMessage(missing)}` } : { kind: 'info', text: 'Opened the recipe from the link.' });
}

/** The session across reloads (a saved session is offered: Restore or Start fresh) and the recipe
 * as a link. Also starts the undo, history and session recorders of the page. */
export function SessionBar() {
  const [saved, setSaved] = useState<SavedSession | null>(null);
  const [note, setNote] = useState<Note>(null);
  const [link, setLink] = useState<string | null>(null);
  const [tooLong, setTooLong] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const stops = [startUndoTracking(), startHistoryTracking(), startSessionSaving()];
    const link = isRecipeLink(location.hash);
    if (link) void openLink(location.hash, setNote).catch((err) => setNote({ kind: 'error', text: `The link's recipe was not opened: ${errorText(err)}` }));
    const auto = autoRestore() && !link;
    loadSession().catch(() => null).then(async (s) => {
      // Something worth offering: otherwise this page's session is saved from now on.
      const worth = s && (s.models.length > 0 || s.points.length > 0 || s.history.length > 0);
      if (worth && auto) await restore(s, true);
      else if (worth) setSaved(s);
      else {
        enableSaving();
        // The Models panel left the opening models to the restore, and there is none.
        if (auto && useStudio.getState().models.length === 0) await openDemoFamily(await whenCatalog());
      }
    }).catch((err) => setNote({ kind: 'error', text: `The saved session could not be read: ${errorText(err)}` }));
    return () => stops.forEach((stop) => stop());
  }, []);

  const [auto, setAuto] = useState(autoRestore);
  async function restore(session: SavedSession, automatic = false) {
    setBusy(true);
    try {
      const out = await restoreSession(session);
      const left = [missingMessage(out.missing), out.tasksLeft.length ? `Tasks not ticked again (add them again in Live evaluation): ${out.tasksLeft.join(', ')}.` : null].filter(Boolean);
      setNote({ kind: left.length ? 'error' : 'info', text: `Session of ${new Date(session.savedAt).toLocaleString()} restored${automatic ? ' automatically' : ''}.${left.length ? ` ${left.join(' ')}` : ''}` });
    } catch (err) {
      setNote({ kind: 'error', text: `The saved session could not be restored: ${errorText(err)}` });
    } finally {
      setSaved(null);
      setBusy(false);
      enableSaving();
    }
  }

  const fresh = async () => {
    setSaved(null);
    await clearSession().catch(() => undefined);
    enableSaving();
    setNote({ kind: 'info', text: 'Started fresh: the saved session was discarded.' });
  };

  const share = async () => {
    setNote(null);
    const { recipe } = useStudio.getState();
    try {
      const hash = await encodeRecipeLink(recipe);
      if (hash.length > MAX_LINK_CHARS) {
        setLink(null);
        setTooLong(hash.length);
        return;
      }
      setTooLong(null);
      history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
      setLink(location.href);
      void navigator.clipboard?.writeText(location.href).catch(() => undefined);
    } catch (err) {
      setNote({ kind: 'error', text: `No link made: ${errorText(err)}` });
    }
  };

  const download = () => {
    const { recipe, catalog } = useStudio.getState();
    downloadBytes('mergekit_config.yml', recipeToYaml(recipeForExport(recipe, catalog)), 'text/yaml');
  };

  return (
    <div className="session-bar" aria-label="Session">
      <div className="row">
        <button type="button" onClick={() => void share()}>Link to this recipe</button>
        <label title="Otherwise a saved session is offered after a reload, and the page opens as usual"><input type="checkbox" checked={auto} onChange={(e) => { setAutoRestore(e.target.checked); setAuto(e.target.checked); }} /> restore my session automatically after a reload</label>
        {link && <input readOnly value={link} aria-label="Recipe link" size={40} onFocus={(e) => e.target.select()} data-testid="recipe-link" />}
      </div>
      {tooLong !== null && (
        <p role="alert" className="error" data-testid="link-too-long">
          This recipe is {tooLong.toLocaleString('en')} characters long as a link, more than the {MAX_LINK_CHARS.toLocaleString('en')} a link can safely carry: save it as a file instead (open it with Recipe YAML → Import .yml…).{' '}
          <button type="button" onClick={download}>Save recipe file</button>
        </p>
      )}
      {saved && (
        <div role="region" aria-label="Saved session" className="saved-session" data-testid="saved-session">
          A session from {new Date(saved.savedAt).toLocaleString()} is saved in this browser: {saved.models.length} model(s), {saved.selectedTasks.length} task(s), {saved.history.length} history entr{saved.history.length === 1 ? 'y' : 'ies'}.
          {saved.models.some((m) => !m.source) && ' Local folders in it cannot be reopened without you picking them again.'}
          {' '}This page saves nothing over it until you choose.{' '}
          <button type="button" onClick={() => void restore(saved)} disabled={busy}>Restore session</button>
          <button type="button" onClick={() => void fresh()} disabled={busy}>Start fresh</button>
        </div>
      )}
      {note && <p role={note.kind === 'error' ? 'alert' : 'status'} className={note.kind === 'error' ? 'error' : 'muted'} data-testid="session-note">{note.text}</p>}
    </div>
  );
}
