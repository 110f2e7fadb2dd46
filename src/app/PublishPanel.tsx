// Publish the merged model to the Hub: sign in (a token, kept in memory unless "remember", or
// "Sign in with Hugging Face" through @huggingface/hub's OAuth helpers), choose namespace/name,
// visibility and branch, then the engine merges into memory and src/core/hub/upload.ts uploads
// with per-file progress (bytes, rate, ETA) and one commit at the end; Cancel stops either step.
import { useEffect, useRef, useState } from 'react';
import type { CardScore } from '../core/hub/model-card.ts';
import type { FileProgress, PublishResult, PublishTarget } from '../core/hub/upload.ts';
import { callback, engine, errorText, isAbort } from './engine-client.ts';
import { formatBytes } from './format.ts';
import { ProgressLine } from './ProgressLine.tsx';
import { useStudio, type JobState } from './store.ts';

const CLIENT_ID_KEY = 'merge-studio.oauth-client-id';
// The Hub client and the upload code load when first needed, not with the page.
const hubClient = () => import('@huggingface/hub');
const uploader = () => Promise.all([import('../core/hub/upload.ts'), import('../core/hub/model-card.ts')]);
interface Account { name: string; orgs: string[] }

function clock(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function PublishPanel() {
  const settings = useStudio((s) => s.settings);
  const check = useStudio((s) => s.check);
  const models = useStudio((s) => s.models);
  const lastStage = useStudio((s) => s.lastStage);
  const { updateSettings } = useStudio.getState();
  const [tokenInput, setTokenInput] = useState('');
  const [remember, setRemember] = useState(false);
  const [account, setAccount] = useState<Account | null>(null);
  const [signError, setSignError] = useState<string | null>(null);
  const [clientId, setClientId] = useState(() => localStorage.getItem(CLIENT_ID_KEY) ?? '');
  const [namespace, setNamespace] = useState('');
  const [name, setName] = useState('my-merge');
  const [isPrivate, setPrivate] = useState(false);
  const [branch, setBranch] = useState('main');
  const [existingOk, setExistingOk] = useState(false);
  const [job, setJob] = useState<JobState>({ status: 'idle' });
  const [files, setFiles] = useState<FileProgress[]>([]);
  const [result, setResult] = useState<PublishResult | null>(null);
  const abort = useRef<AbortController | null>(null);

  const signIn = async (token: string, keep: boolean) => {
    setSignError(null);
    try {
      const { whoAmI } = await hubClient();
      const me = await whoAmI({ accessToken: token, hubUrl: settings.hubUrl });
      const orgs = 'orgs' in me && Array.isArray(me.orgs) ? me.orgs.map((o: { name: string }) => o.name) : [];
      updateSettings({ token, remember: keep });
      setAccount({ name: me.name, orgs });
      setNamespace((ns) => ns || me.name);
    } catch (err) {
      setAccount(null);
      setSignError(`sign-in failed on ${settings.hubUrl}: ${errorText(err).replace(/\. URL: .*$/s, '')}`);
    }
  };

  // Coming back from the Hub's OAuth page: exchange the code, keep the token in memory.
  useEffect(() => {
    let gone = false;
    void (async () => {
      try {
        const saved = useStudio.getState().settings;
        const back = new URLSearchParams(window.location.search);
        const oauth = back.has('code') && back.has('state') ? await (await hubClient()).oauthHandleRedirectIfPresent({ hubUrl: saved.hubUrl }) : false;
        if (gone) return;
        // A remembered token signs in again by itself.
        if (!oauth) {
          if (saved.remember && saved.token) await signIn(saved.token, true);
          return;
        }
        window.history.replaceState(null, '', window.location.pathname);
        await signIn(oauth.accessToken, false);
      } catch (err) {
        if (!gone) setSignError(`Hugging Face sign-in failed: ${errorText(err)}`);
      }
    })();
    return () => {
      gone = true;
    };
  }, []);

  const oauth = async () => {
    setSignError(null);
    if (!clientId) return setSignError('Sign in with Hugging Face needs the OAuth app\'s client ID (an OAuth app registered on the Hub with this page as its redirect URL)');
    localStorage.setItem(CLIENT_ID_KEY, clientId);
    try {
      const { oauthLoginUrl } = await hubClient();
      window.location.href = await oauthLoginUrl({ hubUrl: settings.hubUrl, clientId, redirectUrl: `${window.location.origin}${window.location.pathname}`, scopes: 'openid profile write-repos' });
    } catch (err) {
      setSignError(`cannot start Hugging Face sign-in: ${errorText(err)}`);
    }
  };

  const signOut = () => {
    updateSettings({ token: '', remember: false });
    setAccount(null);
  };

  const publish = async () => {
    const repo = `${namespace}/${name.trim()}`;
    const target: PublishTarget = { repo, hubUrl: settings.hubUrl.replace(/\/+$/, ''), accessToken: settings.token || undefined, private: isPrivate, revision: branch.trim() || 'main', existingOk, surface: 'studio' };
    const controller = new AbortController();
    abort.current = controller;
    setResult(null);
    setFiles([]);
    try {
      setJob({ status: 'running', label: 'create repo' });
      const [{ ensureRepo, publishFiles }, { publishCard }] = await uploader();
      await ensureRepo(target, controller.signal);
      setJob({ status: 'running', label: 'merge' });
      const recipe = useStudio.getState().recipe;
      const out = await engine().exportModel(recipe, { kind: 'memory' }, 'publish', callback((e) => {
        if (e.type === 'progress') setJob({ status: 'running', progress: e.progress, label: 'merge' });
      }));
      controller.signal.throwIfAborted();
      const data = out.data ?? {};
      const refs = new Set([recipe.base_model, ...(recipe.models ?? []).map((m) => m.model)].filter(Boolean));
      const hubIds = models.filter((m) => m.origin === 'hub' && refs.has(m.ref)).map((m) => m.ref.split('@')[0]);
      const scores: CardScore[] = (lastStage?.scores ?? []).filter((s) => s.task).map((s) => ({ task: s.task.replace(/\.jsonl$/, ''), metric: s.metric, value: s.value, items: s.items, of: s.of }));
      if (data['README.md']) data['README.md'] = new TextEncoder().encode(publishCard(new TextDecoder().decode(data['README.md']), { hubIds, scores }));
      const upload = Object.entries(data).map(([path, bytes]) => ({ path, content: new Blob([bytes as Uint8Array<ArrayBuffer>]) }));
      setJob({ status: 'running', label: 'upload' });
      const r = await publishFiles(upload, target, {
        signal: controller.signal,
        onFiles: setFiles,
        onProgress: (progress) => setJob({ status: 'running', progress, label: 'upload' }),
      });
      setResult(r);
      setJob({ status: 'done', message: `published ${r.repo}: ${r.uploaded.length} file(s) uploaded (${formatBytes(r.bytesUploaded)}), ${r.skipped.length} already on the Hub, ${r.inline.length} small file(s) in the commit ${r.commit.slice(0, 12)}` });
    } catch (err) {
      setJob({ status: 'error', error: isAbort(err) && !/Nothing was committed/.test(errorText(err)) ? `publishing ${repo} was cancelled; nothing was committed` : errorText(err) });
    } finally {
      abort.current = null;
    }
  };

  const cancel = () => {
    abort.current?.abort(new DOMException('cancelled', 'AbortError'));
    void engine().cancel('publish');
  };

  const signedIn = account !== null && settings.token !== '';
  const running = job.status === 'running';
  return (
    <section aria-labelledby="publish-heading" className="panel publish">
      <h2 id="publish-heading">Publish to the Hub</h2>
      {signedIn ? (
        <p data-testid="publish-account">Signed in to {settings.hubUrl} as <b>{account.name}</b>{settings.remember ? ' (token remembered in this browser)' : ' (token in memory only)'} <button type="button" onClick={signOut}>Sign out</button></p>
      ) : (
        <form aria-label="Sign in to the Hub" onSubmit={(e) => { e.preventDefault(); void signIn(tokenInput.trim(), remember); }}>
          <div className="row">
            <label>Access token <input type="password" value={tokenInput} onChange={(e) => setTokenInput(e.target.value)} autoComplete="off" placeholder="hf_… (write access)" size={22} /></label>
            <label><input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> remember</label>
            <button type="submit" disabled={!tokenInput.trim()}>Sign in</button>
          </div>
          <div className="row">
            <button type="button" onClick={() => void oauth()}>Sign in with Hugging Face</button>
            <label>OAuth client ID <input value={clientId} onChange={(e) => setClientId(e.target.value)} size={18} spellCheck={false} /></label>
          </div>
          <small className="muted">{remember ? "The token will be kept in this browser's localStorage." : 'The token is kept in memory only and forgotten when the page closes.'}</small>
        </form>
      )}
      {signError && <p role="alert" className="error" data-testid="publish-signin-error">{signError}</p>}
      {signedIn && (
        <form aria-label="Publish settings" onSubmit={(e) => { e.preventDefault(); void publish(); }}>
          <div className="row">
            <label>Namespace <select value={namespace} onChange={(e) => setNamespace(e.target.value)}>
              {[account.name, ...account.orgs].map((n) => <option key={n} value={n}>{n}</option>)}
            </select></label>
            <label>Repo name <input value={name} onChange={(e) => setName(e.target.value)} size={18} spellCheck={false} /></label>
          </div>
          <div className="row">
            <label><input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} /> private</label>
            <label>Branch <input value={branch} onChange={(e) => setBranch(e.target.value)} size={10} spellCheck={false} /></label>
            <label><input type="checkbox" checked={existingOk} onChange={(e) => setExistingOk(e.target.checked)} /> push into the existing repo</label>
          </div>
          <div className="row">
            <button type="submit" disabled={running || !check?.ok || !name.trim()}>Publish</button>
            <button type="button" onClick={cancel} disabled={!running}>Cancel publishing</button>
          </div>
          {lastStage && <small className="muted">The model card gets the scores of the last evaluation ({lastStage.scores.length} metric(s), {lastStage.items} item(s) per task).</small>}
        </form>
      )}
      <ProgressLine job={job} testId="publish-status" />
      {files.length > 0 && (
        <table aria-label="Upload progress" className="files">
          <thead><tr><th>file</th><th>state</th><th>sent</th><th>rate</th><th>ETA</th></tr></thead>
          <tbody>
            {files.map((f) => (
              <tr key={f.path} data-state={f.state}>
                <td>{f.path}</td>
                <td>{f.state === 'skipped' ? 'already on the Hub' : f.state}</td>
                <td>{formatBytes(f.bytes)} / {formatBytes(f.size)}</td>
                <td>{f.rate ? `${formatBytes(f.rate)}/s` : ''}</td>
                <td>{f.state === 'uploading' ? clock(f.eta) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {result && <p>Published: <a href={result.url} target="_blank" rel="noreferrer" data-testid="publish-link">{result.url}</a></p>}
    </section>
  );
}
