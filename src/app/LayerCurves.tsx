import { modelColor } from './colors.ts';
import { useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import { useWidth } from './use-width.ts';
import { CartesianGrid, Legend, Line, LineChart, ReferenceLine, XAxis, YAxis, ZIndexLayer, useXAxisScale, useYAxisInverseScale, useYAxisScale } from 'recharts';
import type { ParamSpec } from '../core/methods/index.ts';
import type { Recipe } from '../core/recipe/index.ts';
import type { ModuleGroup } from '../worker/protocol.ts';
import {
  GROUPS, PRESETS, edgeValues, isSplit, layerCurve, mergedModels, paramSpecs, parseGradient, withCurveChange, withGradient, withLayerValue,
  withMirroredCurve, type LayerLayout,
} from './recipe-edit.ts';
import { useStudio } from './store.ts';
import { tryDemo } from './demo.ts';
import { openDock } from './Dock.tsx';

const GROUP_NAMES: Record<ModuleGroup, string> = { attention: 'attention', mlp: 'MLP', other: 'rest (norms)' };

interface Series {
  key: string;
  /** Recipe model, or null for a global parameter. */
  model: string | null;
  label: string;
  color: string;
}

type InverseScale = (pixel: number) => unknown;

/** One drawn point of a curve. */
interface PointView {
  series: Series;
  /** Index of the series in the chart's series list. */
  index: number;
  /** null: the embeddings / final weights, drawn hollow and not editable. */
  layer: number | null;
  row: number;
  value: number;
}

interface PointsProps {
  rows: Record<string, number | string | null>[];
  /** Series in drawing order: the curve chosen in "Curve of" last, so it is on top. */
  ordered: { series: Series; index: number }[];
  step: number;
  bounds: [number, number];
  selected: ReadonlySet<string>;
  name: (series: Series, layer: number) => string;
  onPress: (e: PointerEvent<SVGCircleElement>, p: PointView, invert: InverseScale) => void;
  onKey: (e: KeyboardEvent<SVGCircleElement>, p: PointView) => void;
}

const RADIUS = 6;
/** Horizontal distance between points of different curves that would otherwise lie on each other. */
const SPREAD = 13;

export const pointKey = (seriesKey: string, layer: number) => `${seriesKey}:${layer}`;

/**
 * The layers' points, drawn by the studio (not by the chart's lines) so that each keeps one element
 * for as long as it exists: focus and pointer capture survive every re-render a drag or a key press
 * causes. Points of several curves at the same place are spread sideways so each can be grabbed.
 */
function EditablePoints({ rows, ordered, step, bounds, selected, name, onPress, onKey }: PointsProps) {
  const x = useXAxisScale();
  const y = useYAxisScale();
  const invert = useYAxisInverseScale();
  if (!x || !y || !invert) return null;
  const py = (v: number) => Number(y(v));
  // Above the lines (which the chart draws in its own layers), below nothing.
  return (
    <ZIndexLayer zIndex={1500}>
    <g className="editable-points">
      {ordered.map(({ series, index }) => (
        <g key={series.key} className="series-points" data-model={series.label}>
          {rows.map((row, r) => {
            const value = Number(row[series.key]);
            const cx0 = Number(x(row.x as string));
            if (!Number.isFinite(value) || !Number.isFinite(cx0)) return null;
            // Curves whose point here is within a radius of this one: spread them in drawing order.
            const near = ordered.filter((o) => Math.abs(py(Number(row[o.series.key])) - py(value)) < RADIUS);
            const rank = near.findIndex((o) => o.series.key === series.key);
            const cx = cx0 + (near.length > 1 ? (rank - (near.length - 1) / 2) * SPREAD : 0);
            const cy = py(value);
            const layer = row.layer as number | null;
            if (layer === null) return <circle key={`edge-${r}`} cx={cx} cy={cy} r={4} fill="white" stroke={series.color} strokeWidth={2} />;
            const p: PointView = { series, index, layer, row: r, value };
            const isSelected = selected.has(pointKey(series.key, layer));
            return (
              <circle key={layer} cx={cx} cy={cy} r={RADIUS} fill={series.color} stroke={isSelected ? '#f59e0b' : 'white'} strokeWidth={isSelected ? 3 : 2}
                className={isSelected ? 'layer-dot selected' : 'layer-dot'} tabIndex={0} role="slider"
                aria-label={name(series, layer)} aria-valuenow={Number(value.toFixed(4))} aria-valuemin={bounds[0]} aria-valuemax={bounds[1]}
                aria-valuetext={`${value.toFixed(3)}${isSelected ? ' (selected)' : ''}`} aria-orientation="vertical"
                data-layer={layer} data-model={series.label} data-selected={isSelected || undefined} data-step={step}
                onPointerDown={(e) => onPress(e, p, invert)} onKeyDown={(e) => onKey(e, p)} style={{ cursor: 'ns-resize', touchAction: 'none' }} />
            );
          })}
        </g>
      ))}
    </g>
    </ZIndexLayer>
  );
}

interface Drag {
  pointerId: number;
  invert: InverseScale;
  /** The recipe when the drag began: every move re-applies its offset to it. */
  start: Recipe;
  grabbed: PointView;
  /** The points moved, with their values when the drag began (the grabbed one among them). */
  points: { series: Series; layer: number; value: number }[];
}

interface Box { x0: number; y0: number; x1: number; y1: number; pointerId: number }

interface GroupChartProps {
  spec: ParamSpec;
  group: ModuleGroup;
  split: boolean;
  series: Series[];
  layout: LayerLayout;
  /** Index (in `series`) of the curve chosen in "Curve of". */
  chosen: number;
  onChoose: (index: number) => void;
}

function GroupChart({ spec, group, split, series, layout, chosen, onChoose }: GroupChartProps) {
  const recipe = useStudio((s) => s.recipe);
  const [figure, width] = useWidth<HTMLElement>(420);
  const drag = useRef<Drag | null>(null);
  // While a drag runs the axis stays as it was, so the point stays under the cursor.
  const [frozen, setFrozen] = useState<[number, number] | null>(null);
  const [label, setLabel] = useState<{ left: number; top: number; text: string } | null>(null);
  const [box, setBox] = useState<Box | null>(null);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const rows: Record<string, number | string | null>[] = [];
  const curves = series.map((s) => layerCurve(recipe, layout, spec, s.model, group));
  const edges = series.map((s) => edgeValues(recipe, layout, spec, s.model));
  rows.push({ x: 'embed', layer: null, ...Object.fromEntries(series.map((s, i) => [s.key, edges[i].pre])) });
  for (let l = 0; l < layout.numLayers; l++) rows.push({ x: `L${l}`, layer: l, ...Object.fromEntries(series.map((s, i) => [s.key, curves[i][l]])) });
  rows.push({ x: 'final', layer: null, ...Object.fromEntries(series.map((s, i) => [s.key, edges[i].post])) });
  const all = [...curves.flat(), ...edges.flatMap((e) => [e.pre, e.post])].filter(Number.isFinite);
  // Room above and below the points, so a value at the edge can still be grabbed and dragged.
  const lo = frozen?.[0] ?? spec.min ?? Math.min(0, Math.floor((Math.min(...all, 0) - 0.1) * 4) / 4);
  const hi = frozen?.[1] ?? spec.max ?? Math.ceil((Math.max(...all, 1) + 0.1) * 4) / 4;
  const step = (hi - lo) / 100;
  const tickStep = hi - lo <= 2 ? 0.25 : hi - lo <= 5 ? 0.5 : Math.ceil((hi - lo) / 8);
  const ticks = Array.from({ length: Math.floor((hi - lo) / tickStep + 1e-9) + 1 }, (_, i) => Number((lo + i * tickStep).toFixed(6)));
  const groupSuffix = split ? ` (${GROUP_NAMES[group]})` : '';
  const chosenSeries = series[Math.min(chosen, series.length - 1)];
  const ordered = series.map((s, index) => ({ series: s, index })).sort((a, b) => Number(a.index === chosen) - Number(b.index === chosen));
  const clamp = (v: number) => Number(Math.min(hi, Math.max(lo, v)).toFixed(6));
  const valueOf = (s: Series, layer: number) => curves[series.indexOf(s)][layer];

  /** Sets the points to their start values plus `delta`, on top of `base`. */
  const moved = (base: Recipe, points: Drag['points'], delta: number) => points.reduce(
    (r, p) => withLayerValue(r, layout, spec, p.series.model, group, split, p.layer, clamp(p.value + delta)), base);

  const onPress = (e: PointerEvent<SVGCircleElement>, p: PointView, invert: InverseScale) => {
    if (e.button !== 0 || !figure.current) return;
    e.preventDefault();
    e.stopPropagation();
    const target = e.currentTarget;
    // The whole drag goes to the figure, which outlives every re-render of the points.
    figure.current.setPointerCapture(e.pointerId);
    const key = pointKey(p.series.key, p.layer!);
    const group = selected.has(key) ? [...selected].map((k) => {
      const s = series.find((x) => k.startsWith(`${x.key}:`))!;
      const layer = Number(k.slice(s.key.length + 1));
      return { series: s, layer, value: valueOf(s, layer) };
    }) : [{ series: p.series, layer: p.layer!, value: p.value }];
    if (!selected.has(key)) setSelected(new Set());
    drag.current = { pointerId: e.pointerId, invert, start: useStudio.getState().recipe, grabbed: p, points: group };
    setFrozen([lo, hi]);
    onChoose(p.index);
    target.focus();
    // Choosing the curve redraws it on top; the pressed point keeps the focus.
    requestAnimationFrame(() => { if (target.isConnected && document.activeElement !== target) target.focus(); });
  };

  const onPointerDown = (e: PointerEvent<HTMLElement>) => {
    if (e.button !== 0 || !figure.current) return;
    if (!e.shiftKey) {
      setSelected(new Set());
      return;
    }
    // Shift-drag on the chart: a box that selects the chosen curve's points inside it.
    e.preventDefault();
    figure.current.setPointerCapture(e.pointerId);
    const r = figure.current.getBoundingClientRect();
    setBox({ x0: e.clientX - r.left, y0: e.clientY - r.top, x1: e.clientX - r.left, y1: e.clientY - r.top, pointerId: e.pointerId });
  };

  const onPointerMove = (e: PointerEvent<HTMLElement>) => {
    const el = figure.current;
    if (!el) return;
    const r = el.getBoundingClientRect();
    if (box && e.pointerId === box.pointerId) {
      setBox({ ...box, x1: e.clientX - r.left, y1: e.clientY - r.top });
      return;
    }
    const d = drag.current;
    if (!d || e.pointerId !== d.pointerId) return;
    const svg = el.querySelector('.recharts-wrapper > svg');
    if (!svg) return;
    const at = Number(d.invert(e.clientY - svg.getBoundingClientRect().top));
    if (!Number.isFinite(at)) return;
    const value = clamp(Math.round(Math.min(hi, Math.max(lo, at)) / step) * step);
    const delta = value - d.grabbed.value;
    useStudio.getState().setRecipe(moved(d.start, d.points, delta));
    const text = d.points.length > 1
      ? `${d.points.length} layers ${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(3)}`
      : `L${d.grabbed.layer} ${d.grabbed.series.label}: ${value.toFixed(3)}`;
    setLabel({ left: e.clientX - r.left + 14, top: e.clientY - r.top - 28, text });
  };

  const onPointerEnd = (e: PointerEvent<HTMLElement>) => {
    if (box && e.pointerId === box.pointerId) {
      const r = figure.current!.getBoundingClientRect();
      const [left, right] = [Math.min(box.x0, box.x1), Math.max(box.x0, box.x1)];
      const [top, bottom] = [Math.min(box.y0, box.y1), Math.max(box.y0, box.y1)];
      const inside = new Set<string>();
      figure.current!.querySelectorAll<SVGCircleElement>(`.series-points[data-model="${CSS.escape(chosenSeries.label)}"] .layer-dot`).forEach((c) => {
        const b = c.getBoundingClientRect();
        const cx = b.left + b.width / 2 - r.left;
        const cy = b.top + b.height / 2 - r.top;
        if (cx >= left && cx <= right && cy >= top && cy <= bottom) inside.add(pointKey(chosenSeries.key, Number(c.dataset.layer)));
      });
      setSelected(inside);
      setBox(null);
      return;
    }
    if (drag.current && e.pointerId === drag.current.pointerId) {
      drag.current = null;
      setFrozen(null);
      setLabel(null);
    }
  };

  const onKey = (e: KeyboardEvent<SVGCircleElement>, p: PointView) => {
    if (e.key === 'Escape') {
      setSelected(new Set());
      return;
    }
    const big = e.shiftKey ? 10 : 1;
    const moves: Record<string, number> = { ArrowUp: step * big, ArrowRight: step * big, ArrowDown: -step * big, ArrowLeft: -step * big, PageUp: step * 10, PageDown: -step * 10 };
    let next: number | undefined;
    if (e.key in moves) next = p.value + moves[e.key];
    else if (e.key === 'Home') next = lo;
    else if (e.key === 'End') next = hi;
    if (next === undefined) return;
    e.preventDefault();
    const delta = clamp(next) - p.value;
    const key = pointKey(p.series.key, p.layer!);
    // A selected point moves the whole selection by the same amount.
    const points = selected.has(key)
      ? [...selected].map((k) => {
        const s = series.find((x) => k.startsWith(`${x.key}:`))!;
        const layer = Number(k.slice(s.key.length + 1));
        return { series: s, layer, value: valueOf(s, layer) };
      })
      : [{ series: p.series, layer: p.layer!, value: p.value }];
    useStudio.getState().setRecipe(moved(useStudio.getState().recipe, points, delta));
  };

  return (
    <figure className="curve" aria-label={`${spec.name} per layer${groupSuffix}`} ref={figure}
      onPointerDown={onPointerDown} onPointerMove={onPointerMove} onPointerUp={onPointerEnd} onPointerCancel={onPointerEnd}
      onLostPointerCapture={onPointerEnd}>
      {split && <figcaption>{GROUP_NAMES[group]}</figcaption>}
      <LineChart width={Math.max(28 * (layout.numLayers + 2) + 80, width)} height={split ? 230 : 300} data={rows} margin={{ top: 10, right: 20, bottom: 22, left: 12 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="x" label={{ value: 'layer (embed: embeddings, final: norm and lm_head)', position: 'insideBottom', offset: -12, fontSize: 12 }} />
        <YAxis domain={[lo, hi]} ticks={ticks} allowDataOverflow width={52} label={{ value: spec.name, angle: -90, position: 'insideLeft', offset: 0, fontSize: 12 }} />
        <ReferenceLine y={0} stroke="#999" />
        <Legend verticalAlign="top" height={24} />
        {ordered.map(({ series: s, index }) => (
          <Line key={s.key} type="linear" dataKey={s.key} name={s.label} stroke={s.color} strokeWidth={index === chosen ? 3 : 1.5}
            strokeOpacity={index === chosen || series.length === 1 ? 1 : 0.6} isAnimationActive={false} dot={false} activeDot={false} />
        ))}
        <EditablePoints rows={rows} ordered={ordered} step={step} bounds={[lo, hi]} selected={selected}
          name={(s, layer) => `Layer ${layer} ${spec.name}${groupSuffix}, ${s.label}`} onPress={onPress} onKey={onKey} />
      </LineChart>
      {box && (
        <div className="select-box" data-testid="select-box" style={{ left: Math.min(box.x0, box.x1), top: Math.min(box.y0, box.y1), width: Math.abs(box.x1 - box.x0), height: Math.abs(box.y1 - box.y0) }} />
      )}
      {label && <div className="drag-value" data-testid="drag-value" role="status" style={{ left: label.left, top: label.top }}>{label.text}</div>}
    </figure>
  );
}

interface CurveToolsProps {
  spec: ParamSpec;
  series: Series[];
  split: boolean;
  layout: LayerLayout;
  target: number;
  setTarget: (index: number) => void;
}

function CurveTools({ spec, series, split, layout, target, setTarget }: CurveToolsProps) {
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
        <label>Curve of <select aria-label="Curve of" value={target} onChange={(e) => setTarget(Number(e.target.value))}>{series.map((x, i) => <option key={x.key} value={i}>{x.label}</option>)}</select></label>
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
  // The curve chosen in "Curve of": drawn on top, edited by the whole-curve tools, picked by pressing a point.
  const [target, setTarget] = useState(0);
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
        {models.length === 0 ? (
          <p className="empty-state" data-testid="curves-empty">No models loaded. Add a base model and the experts to merge in{' '}
            <button type="button" className="linklike" onClick={() => openDock('models')}>1 Models</button>
            {useStudio.getState().catalog?.models.length ? <>, or <button type="button" className="linklike" onClick={() => void tryDemo()}>try the demo</button></> : null}: their
            per-layer coefficients are drawn here, and you shape the merge by dragging them.</p>
        ) : <p className="empty-state">Pick a method with numeric parameters in <button type="button" className="linklike" onClick={() => openDock('recipe')}>2 Recipe</button> to shape them layer by layer.</p>}
      </section>
    );
  }
  const spec = specs.find((p) => p.name === paramName) ?? specs[0];
  const layout: LayerLayout = { numLayers: base.numLayers, layerTensors: base.layerTensors, edgeTensors: base.edgeTensors };
  const labelOf = (ref: string) => models.find((m) => m.ref === ref)?.label ?? ref;
  const series: Series[] = spec.scope === 'global'
    ? [{ key: 'global', model: null, label: 'all models', color: '#475569' }]
    : mergedModels(recipe).map((ref, i) => ({ key: `m${i}`, model: ref, label: labelOf(ref), color: modelColor(ref, models.map((m) => m.ref)) }));
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
            {(split ? GROUPS : (['other'] as ModuleGroup[])).map((g) => (
              <GroupChart key={g} spec={spec} group={g} split={split} series={series} layout={layout} chosen={Math.min(target, series.length - 1)} onChoose={setTarget} />
            ))}
          </div>
          <p className="muted hint">Drag a point, or focus it and use the arrow keys. Shift-drag a box to select several layers of the chosen curve, then drag one of them (or press an arrow key) to move them all; Escape clears the selection.</p>
          <CurveTools spec={spec} series={series} split={split} layout={layout} target={Math.min(target, series.length - 1)} setTarget={setTarget} />
        </>
      )}
    </section>
  );
}
