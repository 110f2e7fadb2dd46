"""Training loop and the PyTorch reference evaluation (exact match, multiple choice, perplexity)."""
import math
import time

import torch
import torch.nn.functional as F

from tasks import BOS_ID, PAD_ID, TOKEN_ID, STOP, encode, decode

IGNORE = -100
STOP_ID = TOKEN_ID[STOP]


def collate(examples):
    """examples: (text, loss_from) pairs; the loss covers text[loss_from:] plus the stop token.

    Each row is BOS + characters + "\\n", right-padded; targets are the next token or IGNORE.
    """
    rows = [[BOS_ID] + encode(text) + [STOP_ID] for text, _ in examples]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, ((text, loss_from), row) in enumerate(zip(examples, rows)):
        ids[i, :len(row)] = torch.tensor(row)
        # position p predicts row[p + 1]; row index of text[j] is j + 1
        for p in range(loss_from, len(row) - 1):
            targets[i, p] = row[p + 1]
    return ids, targets


def train(model, next_example, steps, lr, batch_size, log, warmup=50, weight_decay=0.0, label="", probe=None,
          anchor_decay=0.0):
    """AdamW with linear warm-up and cosine decay to 10% of lr.

    anchor_decay > 0 adds decoupled weight decay toward the starting weights (p -= lr * anchor_decay * (p - p0)):
    it keeps a fine-tuned expert's task vector short (meant to help merges; see README for what it measured)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=weight_decay)
    params = [p for p in model.parameters()]
    anchors = [p.detach().clone() for p in params] if anchor_decay > 0 else None
    model.train()
    started, running = time.time(), None
    for step in range(steps):
        scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        ids, targets = collate([next_example() for _ in range(batch_size)])
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if anchors is not None:
            with torch.no_grad():
                pull = lr * scale * anchor_decay
                for p, p0 in zip(params, anchors):
                    p.sub_(pull * (p - p0))
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            note = ""
            if probe is not None and ((step % 200 == 0 and step > 0) or step == steps - 1):
                model.eval()
                note = " " + probe(model)
                model.train()
            log(f"{label} step {step}/{steps} loss {running:.4f} ({time.time() - started:.0f}s){note}")
    model.eval()


def _right_padded(rows):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
    return ids


@torch.no_grad()
def greedy_generate(model, prompts, max_new_tokens=16, batch_size=256):
    """Greedy continuation of BOS + prompt, stopping at "\\n" or EOS; returns the text before the stop."""
    from tasks import EOS_ID
    outputs = []
    for start in range(0, len(prompts), batch_size):
        rows = [[BOS_ID] + encode(p) for p in prompts[start:start + batch_size]]
        done = [False] * len(rows)
        generated = [[] for _ in rows]
        for _ in range(max_new_tokens):
            # right padding is harmless under the causal mask: read each row at its own last position
            logits = model(_right_padded(rows))
            for i, row in enumerate(rows):
                if done[i]:
                    continue
                tok = int(logits[i, len(row) - 1].argmax())
                if tok in (STOP_ID, EOS_ID):
                    done[i] = True
                else:
                    generated[i].append(tok)
                    row.append(tok)
            if all(done):
                break
        outputs += [decode(g) for g in generated]
    return outputs


def exact_match(model, items, max_new_tokens=16):
    outputs = greedy_generate(model, [it["prompt"] for it in items], max_new_tokens)
    return sum(o == it["answer"] for o, it in zip(outputs, items)) / len(items)


@torch.no_grad()
def continuation_logprobs(model, pairs, batch_size=512):
    """Summed log-probability of each continuation given BOS + prompt."""
    scores = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        rows = [[BOS_ID] + encode(p) + encode(c) for p, c in chunk]
        logp = model(_right_padded(rows)).log_softmax(-1)
        for i, (p, c) in enumerate(chunk):
            first = 1 + len(p)
            scores.append(sum(float(logp[i, pos - 1, rows[i][pos]]) for pos in range(first, first + len(c))))
    return scores


def mc_accuracy(model, items):
    pairs = [(it["prompt"], c) for it in items for c in it["choices"]]
    scores = continuation_logprobs(model, pairs)
    correct, k = 0, 0
    for it in items:
        n = len(it["choices"])
        best = max(range(n), key=lambda j: scores[k + j])
        correct += best == it["label"]
        k += n
    return correct / len(items)


def perplexity(model, items):
    """exp(mean negative log-likelihood per predicted character) of BOS + text."""
    scores = continuation_logprobs(model, [("", it["text"]) for it in items])
    chars = sum(len(it["text"]) for it in items)
    return math.exp(-sum(scores) / chars)
