import { useState, type KeyboardEvent, type PointerEvent } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis, useYAxisInverseScale, type DotItemDotProps } from 'recharts';
import type { ParamSpec } from '../core/methods/index.ts';
import type { ModuleGroup } from '../worker/protocol.ts';
import {
  GROUPS, PRESETS, edgeValues, isSplit, layerCurve, mergedModels, paramSpecs, parseGradient, withCurveChange, withGradient, withLayerValue,
  withMirroredCurve, type LayerLayout,
} from './recipe-edit.ts';
import { useStudio } from './store.ts';

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777'];
const GROUP_NAMES: Record<ModuleGroup, string> = { attention: 'attention', mlp: 'MLP', other: 'rest (norms)' };

interface Series {
  key: string;
  /** Recipe model, or null for a global parameter. */
  model: string | null;
  label: string;
  color: string;
}

interface DotProps {
  cx?: number;
  cy?: number;
  index?: number;
  value?: number | number[];
  payload?: { layer: number | null };
  series: Series;
  edit: (layer: number, value: number) => void;
  step: number;
  name: (layer: number) => string;
  bounds: [number, number];
}

/** A layer's point: drag it vertically, or focus it and use the arrow keys (it is a slider). */
function LayerDot({ cx, cy, payload, value, series, edit, step, name, bounds }: DotProps) {
  const invert = useYAxisInverseScale();
  if (cx === undefined || cy === undefined || !payload) return null;
  const v = typeof value === 'number' ? value : NaN;
  if (payload.layer === null) {
    // Embeddings and final weights: drawn hollow, not editable; the engine takes the gradient's start.
    return <circle cx={cx} cy={cy} r={4} fill="white" stroke={series.color} strokeWidth={2} />;
  }
  const layer = payload.layer;
  const onPointerDown = (e: PointerEvent<SVGCircleElement>) => {
    e.preventDefault();
    (e.target as SVGCircleElement).setPointerCapture(e.pointerId);
    (e.target as SVGCircleElement).focus();
  };
  const onPointerMove = (e: PointerEvent<SVGCircleElement>) => {
    const target = e.target as SVGCircleElement;
    if (!target.hasPointerCapture(e.pointerId) || !invert) return;
    const svg = target.ownerSVGElement;
    if (!svg) return;
    const y = e.clientY - svg.getBoundingClientRect().top;
    const next = Number(invert(y));
    if (Number.isFinite(next)) edit(layer, Math.round(Math.min(bounds[1], Math.max(bounds[0], next)) / step) * step);
  };
  const onKeyDown = (e: KeyboardEvent<SVGCircleElement>) => {
    const big = e.shiftKey ? 10 : 1;
    const moves: Record<string, number> = { ArrowUp: step * big, ArrowRight: step * big, ArrowDown: -step * big, ArrowLeft: -step * big, PageUp: step * 10, PageDown: -step * 10 };
    let next: number | undefined;
    if (e.key in moves) next = v + moves[e.key];
    else if (e.key === 'Home') next = bounds[0];
    else if (e.key === 'End') next = bounds[1];
    if (next === undefined) return;
    e.preventDefault();
    edit(layer, Number(Math.min(bounds[1], Math.max(bounds[0], next)).toFixed(6)));
  };
  return (
    <circle cx={cx} cy={cy} r={7} fill={series.color} stroke="white" strokeWidth={2} className="layer-dot" tabIndex={0} role="slider"
      aria-label={name(layer)} aria-valuenow={Number.isFinite(v) ? Number(v.toFixed(4)) : undefined} aria-valuemin={bounds[0]} aria-valuemax={bounds[1]}
      aria-orientation="vertical" data-layer={layer} data-model={series.label}
      onPointerDown={onPointerDown} onPointerMove={onPointerMove} onKeyDown={onKeyDown} style={{ cursor: 'ns-resize', touchAction: 'none' }} />
  );
}

function GroupChart({ spec, group, split, series, layout }: { spec: ParamSpec; group: ModuleGroup; split: boolean; series: Series[]; layout: LayerLayout }) {
  const recipe = useStudio((s) => s.recipe);
  const rows: Record<string, number | string | null>[] = [];
  const curves = series.map((s) => layerCurve(recipe, layout, spec, s.model, group));
  const edges = series.map((s) => edgeValues(recipe, layout, spec, s.model));
  rows.push({ x: 'embed', layer: null, ...Object.fromEntries(series.map((s, i) => [s.key, edges[i].pre])) });
  for (let l = 0; l < layout.numLayers; l++) rows.push({ x: `L${l}`, layer: l, ...Object.fromEntries(series.map((s, i) => [s.key, curves[i][l]])) });
  rows.push({ x: 'final', layer: null, ...Object.fromEntries(series.map((s, i) => [s.key, edges[i].post])) });
  const all = [...curves.flat(), ...edges.flatMap((e) => [e.pre, e.post])].filter(Number.isFinite);
  // Room above and below the points, so a value at the edge can still be grabbed and dragged.
  const lo = spec.min ?? Math.min(0, Math.floor((Math.min(...all, 0) - 0.1) * 4) / 4);
  const hi = spec.max ?? Math.ceil((Math.max(...all, 1) + 0.1) * 4) / 4;
  const step = (hi - lo) / 100;
  const tickStep = hi - lo <= 2 ? 0.25 : hi - lo <= 5 ? 0.5 : Math.ceil((hi - lo) / 8);
  const ticks = Array.from({ length: Math.floor((hi - lo) / tickStep + 1e-9) + 1 }, (_, i) => Number((lo + i * tickStep).toFixed(6)));
  const groupSuffix = split ? ` (${GROUP_NAMES[group]})` : '';
  return (
    <figure className="curve" aria-label={`${spec.name} per layer${groupSuffix}`}>
      {split && <figcaption>{GROUP_NAMES[group]}</figcaption>}
      <LineChart width={Math.max(360, 70 * (layout.numLayers + 2))} height={220} data={rows} margin={{ top: 10, right: 20, bottom: 5, left: 0 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="x" />
        <YAxis domain={[lo, hi]} ticks={ticks} allowDataOverflow width={48} />
        <ReferenceLine y={0} stroke="#999" />
        <Tooltip formatter={(v) => (typeof v === 'number' ? v.toFixed(3) : String(v))} />
        {series.length > 1 && <Legend />}
        {series.map((s) => (
          <Line key={s.key} type="linear" dataKey={s.key} name={s.label} stroke={s.color} strokeWidth={2} isAnimationActive={false}
            activeDot={false}
            dot={(props: DotItemDotProps) => (
              <LayerDot cx={props.cx} cy={props.cy} index={props.index} value={props.value as number | undefined} payload={props.payload as DotProps['payload']} key={`${s.key}-${props.index}`} series={s} step={step} bounds={[lo, hi]}
                name={(layer) => `Layer ${layer} ${spec.name}${groupSuffix}, ${s.label}`}
                edit={(layer, value) => {
                  const r = useStudio.getState().recipe;
                  useStudio.getState().setRecipe(withLayerValue(r, layout, spec, s.model, group, split, layer, value));
                }} />
            )} />
        ))}
      </LineChart>
    </figure>
  );
}

function CurveTools({ spec, series, split, layout }: { spec: ParamSpec; series: Series[]; split: boolean; layout: LayerLayout }) {
  const [target, setTarget] = useState(0);
  const [group, setGroup] = useState<ModuleGroup | 'all'>('all');
  const [flat, setFlat] = useState('0.5');
  const [ramp, setRamp] = useState(['0', '1']);
  const [gradient, setGradient] = useState('0, 0.5, 1');
  const [shift, setShift] = useState('0.1');
  const [factor, setFactor] = useState('1.5');
  const [mirrorTo, setMirrorTo] = useState(1);
  const [error, setError] = useState<string | null>(null);
  const s = series[Math.min(target, series.length - 1)];
  const g = group === 'all' ? null : group;
  const apply = (change: (c: number[]) => number[]) => {
    const r = useStudio.getState().recipe;
    useStudio.getState().setRecipe(withCurveChange(r, layout, spec, s.model, g, split, change));
  };
  const num = (text: string, what: string, then: (v: number) => void) => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v)) setError(`${what}: '${text}' is not a number`);
    else {
      setError(null);
      then(v);
    }
  };
  return (
    <div className="curve-tools" role="group" aria-label="Whole-curve edits">
      {series.length > 1 && (
        <label>Curve of <select value={target} onChange={(e) => setTarget(Number(e.target.value))}>{series.map((x, i) => <option key={x.key} value={i}>{x.label}</option>)}</select></label>
      )}
      {split && (
        <label>modules <select value={group} onChange={(e) => setGroup(e.target.value as ModuleGroup | 'all')}>
          <option value="all">all</option>
          {GROUPS.map((x) => <option key={x} value={x}>{GROUP_NAMES[x]}</option>)}
        </select></label>
      )}
      <span className="tool"><input aria-label="Flat value" value={flat} onChange={(e) => setFlat(e.target.value)} size={4} /><button type="button" onClick={() => num(flat, 'flat', (v) => apply(PRESETS.flat(v)))}>Flat</button></span>
      <span className="tool"><input aria-label="Ramp from" value={ramp[0]} onChange={(e) => setRamp([e.target.value, ramp[1]])} size={3} />→<input aria-label="Ramp to" value={ramp[1]} onChange={(e) => setRamp([ramp[0], e.target.value])} size={3} />
        <button type="button" onClick={() => num(ramp[0], 'ramp start', (a) => num(ramp[1], 'ramp end', (b) => apply(PRESETS.ramp(a, b))))}>Ramp</button></span>
      <span className="tool"><input aria-label="Gradient list" value={gradient} onChange={(e) => setGradient(e.target.value)} size={12} />
        <button type="button" onClick={() => {
          const parsed = parseGradient(gradient);
          if (typeof parsed === 'string') return setError(`gradient: ${parsed}`);
          setError(null);
          useStudio.getState().setRecipe(withGradient(useStudio.getState().recipe, s.model, spec.name, g, layout, spec, split, parsed));
        }}>Gradient</button></span>
      <span className="tool"><input aria-label="Shift by" value={shift} onChange={(e) => setShift(e.target.value)} size={4} /><button type="button" onClick={() => num(shift, 'shift', (v) => apply(PRESETS.shift(v)))}>Shift</button></span>
      <span className="tool"><input aria-label="Scale by" value={factor} onChange={(e) => setFactor(e.target.value)} size={4} /><button type="button" onClick={() => num(factor, 'scale', (v) => apply(PRESETS.scale(v)))}>Scale</button></span>
      <button type="button" onClick={() => apply(PRESETS.reverse())}>Reverse</button>
      {series.length > 1 && s.model !== null && (
        <span className="tool">
          <button type="button" onClick={() => {
            const to = series[Math.min(mirrorTo, series.length - 1)];
            if (to.model && to.model !== s.model) useStudio.getState().setRecipe(withMirroredCurve(useStudio.getState().recipe, layout, spec, s.model!, to.model, split));
          }}>Mirror onto</button>
          <select aria-label="Mirror target" value={mirrorTo} onChange={(e) => setMirrorTo(Number(e.target.value))}>{series.map((x, i) => <option key={x.key} value={i}>{x.label}</option>)}</select>
        </span>
      )}
      {error && <span role="alert" className="error">{error}</span>}
    </div>
  );
}

export function LayerCurves() {
  const recipe = useStudio((s) => s.recipe);
  const models = useStudio((s) => s.models);
  const [paramName, setParamName] = useState('weight');
  const [splitWanted, setSplitWanted] = useState(false);
  if (recipe.stages?.length) {
    return (
      <section aria-labelledby="layers-heading" className="panel layers">
        <h2 id="layers-heading">Per-layer coefficients</h2>
        <p className="muted">A multi-stage recipe picks a method per block and module set; its stages are not drawn here (see Recipe YAML).</p>
      </section>
    );
  }
  if (recipe.slices) return null;
  const base = models.find((m) => m.ref === recipe.base_model) ?? models[0];
  const specs = paramSpecs(recipe).filter((p) => p.kind === 'number');
  if (!base || specs.length === 0) {
    return (
      <section aria-labelledby="layers-heading" className="panel layers">
        <h2 id="layers-heading">Per-layer coefficients</h2>
        <p className="muted">Add models and pick a method with numeric parameters to shape them layer by layer.</p>
      </section>
    );
  }
  const spec = specs.find((p) => p.name === paramName) ?? specs[0];
  const layout: LayerLayout = { numLayers: base.numLayers, layerTensors: base.layerTensors, edgeTensors: base.edgeTensors };
  const labelOf = (ref: string) => models.find((m) => m.ref === ref)?.label ?? ref;
  const series: Series[] = spec.scope === 'global'
    ? [{ key: 'global', model: null, label: 'all models', color: COLORS[0] }]
    : mergedModels(recipe).map((ref, i) => ({ key: `m${i}`, model: ref, label: labelOf(ref), color: COLORS[i % COLORS.length] }));
  const alreadySplit = series.some((s) => isSplit(recipe, layout, spec, s.model));
  const split = splitWanted || alreadySplit;
  return (
    <section aria-labelledby="layers-heading" className="panel layers">
      <h2 id="layers-heading">Per-layer coefficients</h2>
      <div className="row">
        <label>Parameter <select value={spec.name} onChange={(e) => setParamName(e.target.value)}>{specs.map((p) => <option key={p.name} value={p.name}>{p.name} ({p.scope === 'global' ? 'method' : 'per model'})</option>)}</select></label>
        <label><input type="checkbox" checked={split} disabled={alreadySplit} onChange={(e) => setSplitWanted(e.target.checked)} /> separate attention / MLP / rest</label>
        <span className="muted">Hollow points: embeddings and final weights, which take the curve&apos;s first value (mergekit&apos;s rule).</span>
      </div>
      {series.length === 0 ? <p className="muted">No models to merge yet.</p> : (
        <>
          <div className="charts">
            {(split ? GROUPS : (['other'] as ModuleGroup[])).map((g) => <GroupChart key={g} spec={spec} group={g} split={split} series={series} layout={layout} />)}
          </div>
          <CurveTools spec={spec} series={series} split={split} layout={layout} />
        </>
      )}
    </section>
  );
}
