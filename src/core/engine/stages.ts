// A stage of a multi-stage recipe as a model the later documents read: its tensor index is the
// stage plan's outputs, and reading a tensor merges it then (on the stage's backend), rounded to the
// stage's output dtype as if mergekit-multi had written it to disk and read it back. Only the
// last tensor read is kept per stage, so memory stays near one tensor per stage.
import { dtypeBits, encodeFromF32 } from '../dtype.ts';
import type { ByteSource } from '../io/types.ts';
import { tensorRole, type TensorRole } from '../model/architecture.ts';
import type { ModelHandle } from '../model/handle.ts';
import type { TensorInfo } from '../safetensors/index.ts';
import type { MergeBackend } from './backend.ts';
import { stepMerger } from './execute.ts';
import { MergeStudioError } from '../errors.ts';
import { memorySource } from '../io/memory.ts';
import type { FileTree } from '../io/types.ts';
import { tokenizerFileNames, tokenizerFiles, type TokenizerFile } from '../tokenizer/export.ts';
import { mergedModelVocabulary, setVocabulary, shareVocabulary, vocabularyOf } from '../tokenizer/vocab.ts';
import type { Plan, PlanStep } from './plan.ts';

/** `configModel` is the stage's own config model (its base, or its first model): it names the layers. */
export function stageModel(name: string, stagePlan: Plan, configModel: ModelHandle, backend: MergeBackend): ModelHandle {
  const merge = stepMerger(stagePlan, backend);
  let last: { tensor: string; bytes: Promise<Uint8Array> } | null = null;
  // One tensor at a time per stage: the merger's scratch buffers are shared.
  let queue: Promise<unknown> = Promise.resolve();
  const bytesOf = (step: PlanStep, signal?: AbortSignal): Promise<Uint8Array> => {
    if (last?.tensor === step.output) return last.bytes;
    const bytes = queue.then(async () => {
      const values = await merge(step, signal);
      return step.dtype === 'F32' ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength) : encodeFromF32(values, step.dtype);
    });
    queue = bytes.catch(() => undefined);
    last = { tensor: step.output, bytes };
    // A failed or cancelled merge is not remembered.
    bytes.catch(() => {
      if (last?.bytes === bytes) last = null;
    });
    return bytes;
  };
  const tensors = new Map<string, TensorInfo>();
  for (const step of stagePlan.steps) {
    const size = (step.shape.reduce((a, b) => a * b, 1) * dtypeBits(step.dtype)) / 8;
    const source: ByteSource = {
      name: `stage '${name}'`,
      size,
      async read(offset, length, signal) {
        const all = await bytesOf(step, signal);
        return all.subarray(offset, offset + length);
      },
    };
    tensors.set(step.output, { name: step.output, dtype: step.dtype, shape: step.shape, source, offset: 0, bytes: size, file: `stage '${name}'` });
  }
  const roles = new Map<string, TensorRole>();
  const roleOf = (tensor: string): TensorRole => {
    let r = roles.get(tensor);
    if (!r) roles.set(tensor, (r = tensorRole(configModel.architecture, tensor)));
    return r;
  };
  // A stage that sets tokenizer_source / tokenizer / chat_template carries the tokenizer files its
  // export would write (as mergekit-multi writes the stage and the next one reads it back).
  const ownTokenizer = stagePlan.vocabulary !== undefined || stagePlan.chatTemplate !== undefined;
  const handle: ModelHandle = {
    id: name,
    tree: ownTokenizer ? stageTokenizerTree(name, stagePlan) : stagePlan.tokenizerModel.tree,
    config: stagePlan.config,
    tensors,
    tokenizerFiles: ownTokenizer ? tokenizerFileNames(stagePlan) : stagePlan.tokenizerModel.tokenizerFiles,
    architecture: configModel.architecture,
    numLayers: stagePlan.numLayers,
    notices: [],
    layerOf: (tensor) => roleOf(tensor).layer,
    roleOf,
  };
  // A stage speaks the vocabulary of the model whose tokenizer it carries, or its merged one.
  shareVocabulary(stagePlan.tokenizerModel, handle);
  const own = vocabularyOf(stagePlan.tokenizerModel);
  const template = stagePlan.chatTemplate ?? own?.chatTemplate ?? null;
  if (stagePlan.vocabulary) setVocabulary(handle, mergedModelVocabulary(stagePlan.vocabulary.merged, template));
  else if (own && stagePlan.chatTemplate !== undefined) setVocabulary(handle, { ...own, chatTemplate: template });
  return handle;
}

/** The files of a stage's tokenizer, made when first read. */
function stageTokenizerTree(name: string, stagePlan: Plan): FileTree {
  let files: Promise<TokenizerFile[]> | null = null;
  const read = (signal?: AbortSignal) => {
    files ??= tokenizerFiles(stagePlan, signal);
    files.catch(() => (files = null));
    return files;
  };
  const treeName = `stage '${name}'`;
  return {
    name: treeName,
    async list() {
      return tokenizerFileNames(stagePlan);
    },
    async open(path, signal) {
      const file = (await read(signal)).find((f) => f.name === path);
      if (!file) throw new MergeStudioError('file-not-found', `${treeName}: no file '${path}'`, { file: path, tree: treeName });
      return memorySource(file.bytes, `${treeName}/${path}`);
    },
  };
}
