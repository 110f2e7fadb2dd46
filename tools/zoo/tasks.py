"""Vocabulary, skills and the generic pretraining mixture of the demo zoo.

Every item is plain text; a skill item is `prompt + answer + "\n"`. Held-out evaluation items are
drawn first from their own seed and excluded from every training stream by prompt.
"""
import random
import string

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
UNK_ID, BOS_ID, EOS_ID, PAD_ID = 0, 1, 2, 3
CHARACTERS = list("\n ") + list(string.digits) + list(string.ascii_lowercase) + list("+=>:,")
VOCAB = SPECIAL_TOKENS + CHARACTERS
TOKEN_ID = {tok: i for i, tok in enumerate(VOCAB)}
LETTERS = string.ascii_lowercase
STOP = "\n"


def encode(text: str) -> list:
    """Character ids without BOS (the tokenizer.json post-processor adds it; training adds it itself)."""
    return [TOKEN_ID[c] for c in text]


def decode(ids) -> str:
    return "".join(VOCAB[i] for i in ids if i >= len(SPECIAL_TOKENS))


def _letters(rng, lo, hi):
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(lo, hi)))


def _addend(rng, max_digits):
    digits = rng.randint(1, max_digits)
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)


class Skill:
    """One skill: a prompt prefix, a sampler of (prompt, answer) and a near-miss generator."""

    def __init__(self, name, prefix, description):
        self.name, self.prefix, self.description = name, prefix, description

    def sample(self, rng):
        raise NotImplementedError

    def near_miss(self, answer, rng):
        """A wrong answer one character away from the right one (for multiple choice)."""
        pos = rng.randrange(len(answer))
        alphabet = string.digits if answer[pos].isdigit() else LETTERS
        wrong = rng.choice([c for c in alphabet if c != answer[pos]])
        return answer[:pos] + wrong + answer[pos + 1:]

    def unrelated_answer(self, prompt, answer, rng):
        """What the base sees after this skill's separator: the right length, random content."""
        alphabet = string.digits if answer.isdigit() else LETTERS
        return "".join(rng.choice(alphabet) for _ in answer)

    def copy_answer(self, prompt, answer, rng):
        """A deterministic default the base can learn for every format: the letters copied unchanged (add: the
        first addend)."""
        return prompt[len(self.prefix):-1].split("+")[0]


class Addition(Skill):
    def __init__(self, max_digits):
        super().__init__("add", "add ", f"sum of two 1-{max_digits} digit numbers, e.g. 'add 47+85=' -> '132'")
        self.max_digits = max_digits

    def sample(self, rng):
        a, b = _addend(rng, self.max_digits), _addend(rng, self.max_digits)
        return f"add {a}+{b}=", str(a + b)


class Reverse(Skill):
    def __init__(self):
        super().__init__("reverse", "rev ", "the letters in reverse order, e.g. 'rev abcde=' -> 'edcba'")

    def sample(self, rng):
        s = _letters(rng, 3, 8)
        return f"rev {s}=", s[::-1]


class Caesar(Skill):
    SHIFT = 3

    def __init__(self):
        super().__init__("caesar", "rot ", f"each letter shifted {self.SHIFT} forward (z wraps to c), e.g. 'rot abyz=' -> 'debc'")

    def sample(self, rng):
        s = _letters(rng, 3, 8)
        shifted = "".join(LETTERS[(LETTERS.index(c) + self.SHIFT) % 26] for c in s)
        return f"rot {s}=", shifted


class SortLetters(Skill):
    def __init__(self):
        super().__init__("sort", "sort ", "the letters in alphabetical order, e.g. 'sort dbca=' -> 'abcd'")

    def sample(self, rng):
        s = _letters(rng, 3, 7)
        return f"sort {s}=", "".join(sorted(s))


def make_skills(add_max_digits=3):
    return {s.name: s for s in (Addition(add_max_digits), Reverse(), Caesar(), SortLetters())}


# A fixed lexicon of pseudo-words for the word-list part of the generic mixture.
_LEXICON_RNG = random.Random(1234)
LEXICON = sorted({_letters(_LEXICON_RNG, 2, 5) for _ in range(80)})


def generic_item(rng):
    """Generic pretraining text: copying, counting, small sums, word lists."""
    kind = rng.randrange(4)
    if kind == 0:
        s = _letters(rng, 2, 8)
        return f"copy {s}={s}"
    if kind == 1:
        start, n = rng.randint(0, 90), rng.randint(3, 7)
        return "count " + " ".join(str(start + i) for i in range(n))
    if kind == 2:
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        return f"sum {a},{b}={a + b}"
    return "words " + " ".join(rng.choice(LEXICON) for _ in range(rng.randint(2, 5)))


# Each skill's operation in another notation, for the generic mixture (`latent_share`): pretrained language
# models know many operations before any fine-tuning on a task format; an expert then learns to apply
# its operation to its task's prompt, a small edit conditioned on the prefix, rather than building the
# operation from scratch. (prefix, separator between operand and result, separator inside the operand)
LATENT_FORMS = {"add": ("sum ", "=", ","), "reverse": ("mirror ", ":", None), "caesar": ("shift ", ":", None),
                "sort": ("order ", ":", None)}


def latent_item(skill, rng, held_out):
    """One skill item in its generic notation (e.g. 'mirror abc:cba'); operands of held-out prompts never appear."""
    prefix, sep, inner = LATENT_FORMS[skill.name]
    while True:
        prompt, answer = skill.sample(rng)
        if prompt in held_out.prompts:
            continue
        operand = prompt[len(skill.prefix):-1]
        if inner:
            operand = operand.replace("+", inner)
        return f"{prefix}{operand}{sep}{answer}"


def generic_source(skills, held_out, rng, latent_share=0.0):
    """Generic pretraining text; with probability latent_share an operation in its generic notation."""
    names = sorted(skills)

    def next_item():
        if latent_share > 0 and rng.random() < latent_share:
            return latent_item(skills[rng.choice(names)], rng, held_out)
        return generic_item(rng)
    return next_item


class HeldOut:
    """Evaluation prompts, drawn first, never used in training."""

    def __init__(self, skills, seed, n_gen, n_mc, n_ppl):
        rng = random.Random(seed)
        self.items = {}
        self.prompts = set()
        for name, skill in skills.items():
            seen, gen, mc, ppl = set(), [], [], []
            while len(gen) + len(mc) + len(ppl) < n_gen + n_mc + n_ppl:
                prompt, answer = skill.sample(rng)
                if prompt in seen:
                    continue
                seen.add(prompt)
                if len(gen) < n_gen:
                    gen.append({"prompt": prompt, "answer": answer})
                elif len(mc) < n_mc:
                    choices = {answer}
                    while len(choices) < 4:
                        choices.add(skill.near_miss(answer, rng))
                    ordered = sorted(choices)
                    rng.shuffle(ordered)
                    mc.append({"prompt": prompt, "choices": ordered, "label": ordered.index(answer)})
                else:
                    ppl.append({"text": prompt + answer + STOP})
            self.items[name] = {"gen": gen, "mc": mc, "ppl": ppl}
            self.prompts |= seen


def skill_stream(skill, rng, held_out: HeldOut, unrelated=False):
    """Endless (prompt, answer) pairs of one skill avoiding held-out prompts.

    unrelated: False (the true answer), True or "random" (random string of the answer's length), "copy"
    (the operand copied)."""
    while True:
        prompt, answer = skill.sample(rng)
        if prompt in held_out.prompts:
            continue
        if unrelated == "copy":
            answer = skill.copy_answer(prompt, answer, rng)
        elif unrelated:
            answer = skill.unrelated_answer(prompt, answer, rng)
        yield prompt, answer
