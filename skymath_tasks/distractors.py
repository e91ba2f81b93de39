"""GSM8K with 1 to 5 irrelevant sentences ("distractors"), as in CMATH and table 7 of the paper.

Why this shape: CMATH's distractor set (``../shared/data/distractors/cmath_distractor.jsonl``) adds short
factual sentences that carry a number and talk about the problem's own people and things, but say
nothing the question needs ("家里有3只小猫" in a problem about how many fish the cat ate). A model that
really reads the problem ignores them; one that mechanically combines every number does not. We build
the same thing for GSM8K test two ways:

* **offline (default)**: a seeded, templated generator. It reads the problem's names and counted
  objects, fills templates about them with numbers that never coincide with any number of the problem,
  of its worked solution or of its answer, and skips any template whose topic appears in the problem
  (no "Tom is 31 years old" in an age problem). Pure Python, no model, identical bytes for every user.
* **LLM** (``synth.distractors``, it needs a model endpoint): asks an OpenAI-compatible model for
  CMATH-style distractors and keeps only those that pass :func:`check_distractor`; the templates
  fill any gap.

This module is the evaluation layer's part: the offline generator the distractor tasks run when their
file is absent, and the check. ``skymath-synth distractors`` writes the same rows to files.

Variant ``k`` holds exactly ``k`` distractors, inserted as one block right before the final question
sentence; variant ``k+1`` is variant ``k`` plus one more sentence appended to that block (nested), so
accuracy over ``k`` is a clean curve. The gold answer is never touched.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skymath_tasks.benchmarks import DISTRACTOR_LEVELS

log = logging.getLogger(__name__)

DEFAULT_SEED = 20240711  # arXiv 2407.08348 (v1: 11 July 2024); any int or str works
K_MAX = max(DISTRACTOR_LEVELS)  # the registry's levels 1..5 (benchmarks gsm8k_distractor_k)
GENERATOR_VERSION = "skymath-distractors-v1"

# --------------------------------------------------------------------------------------------------
# Sentences and numbers
# --------------------------------------------------------------------------------------------------

# A period after these does not end a sentence ("Mr. Smith", "vs. last year").
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "etc", "no", "mt", "ft", "oz", "lb", "lbs"})
_BOUNDARY = re.compile(r"""(?<=[.!?])["')\]]*\s+""")


def _sentence_starts(text: str) -> list[int]:
    """Offsets where sentences begin (0 first); a boundary is [.!?] + space + an upper-case/digit start."""
    starts = [0]
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if end >= len(text):
            continue
        nxt = text[end]
        if not (nxt.isupper() or nxt.isdigit() or nxt in "\"'($(“‘"):
            continue
        before = text[: m.start()].rstrip("\"')]")
        if before.endswith("."):
            word = re.search(r"(?:^|[\s(\"“])([A-Za-z.]+)\.$", before)
            token = word.group(1).lower() if word else ""
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue  # "Mr." or an initial such as "J."
        starts.append(end)
    return starts


def split_question_sentence(question: str) -> tuple[str, str]:
    """Split a word problem into ``(context, final_question)``.

    The final question is the last sentence holding a '?' (with anything after it, e.g. "(Round to
    the nearest integer.)"), else the last sentence (GSM8K's 60 imperative problems: "Calculate ...").
    ``context`` is everything before it without trailing whitespace; it is empty when the problem is a
    single sentence. ``question`` is ``context + whitespace + final_question``.
    """
    text = question.strip()
    starts = _sentence_starts(text)
    q_pos = text.rfind("?")
    if q_pos == -1:
        start = starts[-1]
    else:
        start = max(s for s in starts if s <= q_pos)
    return text[:start].rstrip(), text[start:]


_WORD_NUMBERS: dict[str, tuple[float, ...]] = {
    "zero": (0,), "one": (1,), "two": (2,), "three": (3,), "four": (4,), "five": (5,), "six": (6,),
    "seven": (7,), "eight": (8,), "nine": (9,), "ten": (10,), "eleven": (11,), "twelve": (12,),
    "thirteen": (13,), "fourteen": (14,), "fifteen": (15,), "sixteen": (16,), "seventeen": (17,),
    "eighteen": (18,), "nineteen": (19,), "twenty": (20,), "thirty": (30,), "forty": (40,), "fifty": (50,),
    "sixty": (60,), "seventy": (70,), "eighty": (80,), "ninety": (90,), "hundred": (100,),
    "thousand": (1000,), "million": (1_000_000,), "dozen": (12,), "dozens": (12,), "score": (20,),
    "half": (2, 0.5), "twice": (2,), "double": (2,), "triple": (3,), "thrice": (3,), "quadruple": (4,),
    "third": (3,), "thirds": (3,), "quarter": (4, 0.25), "quarters": (4, 0.25), "fourth": (4,),
    "fifth": (5,), "sixth": (6,), "seventh": (7,), "eighth": (8,), "ninth": (9,), "tenth": (10,),
    "pair": (2,), "pairs": (2,), "couple": (2,), "once": (1,), "single": (1,), "first": (1,), "second": (2,),
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True)) + r")\b", re.I)
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_FRACTION = re.compile(r"(\d+)\s*/\s*(\d+)")


def numbers_in(text: str) -> set[float]:
    """Every number a reader could take from ``text``: digits ("1,200" is 1200), both parts and the
    value of fractions, percentages also as ratios, and number words ("three", "dozen", "half")."""
    out: set[float] = set()
    for m in _NUMBER.finditer(text):
        value = float(m.group().replace(",", ""))
        out.add(value)
        tail = text[m.end() : m.end() + 1]
        if tail == "%":
            out.add(round(value / 100, 10))
        for part in m.group().split(","):  # "1,200" also shows "1" and "200" to a careless reader
            if part:
                out.add(float(part))
    for m in _FRACTION.finditer(text):
        den = float(m.group(2))
        if den:
            out.add(round(float(m.group(1)) / den, 10))
    for m in _NUMBER_WORD.finditer(text):
        out.update(float(v) for v in _WORD_NUMBERS[m.group(1).lower()])
    return out


def gold_answer(answer: str) -> str:
    """GSM8K's final answer: the text after the last ``####``."""
    return answer.rsplit("####", 1)[-1].strip()


# --------------------------------------------------------------------------------------------------
# Entities: people and counted things of the problem
# --------------------------------------------------------------------------------------------------

_NOT_NAMES = frozenset(
    """a an the if how what when where which who whom whose why in on at for after before during each
    every she he they it his her hers their theirs there this that these those then but and or so also of
    to from with some all most many much several one two three four five six seven eight nine ten eleven
    twelve twenty thirty forty fifty hundred i we you my our your its as since because while last next
    first second third fourth fifth today yesterday tomorrow over out half both only any another given
    suppose assume find calculate determine round express let together altogether currently now
    initially later finally meanwhile however therefore thus instead including besides unfortunately
    luckily fortunately yes no not once twice is are was were be will would can could should may might
    must do does did has have had monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december christmas easter
    halloween thanksgiving valentine valentines new year years day days week weeks month months us usa
    american english french spanish chinese dollar dollars mom dad mother father grandma grandpa mr mrs
    ms dr miss lego legos per by up down into onto than just even still already again never always
    usually sometimes often because although though unless until whether every everyone everybody
    someone somebody nobody none remember note use using facebook google instagram youtube twitter
    tiktok amazon netflix windows people food medicine senior junior united city bakery karate yellow red
    blue green white black scottish profit feeling well gift solo hay cheese ham castle loops mb termites ants rottweiler pomeranian bubbles
    thirtytwo total price cost costs store school math science english history""".split()
)
# A capitalised word counts as a person (or a named actor) when some occurrence is possessive or
# followed by a verb-like word; this keeps "Christmas tree" or "New York" out of "X is 31 years old".
_VERBISH = frozenset(
    """has had is was can will would could should may might must did does bought sold made ate gave took
    got went ran wants needs spent paid saw read wrote found grew drove rode won lost left kept put let
    sent built drew threw caught began brought thought told swam flew gets buys sells makes earns saves
    decides decided wants wanted needs needed uses used walks walked works worked plans planned owns
    owned collects collected""".split()
)
_TITLE = re.compile(r"\b(Mr|Mrs|Ms|Dr)\.\s+([A-Z][a-z]+)")
_CAPWORD = re.compile(r"\b([A-Z][a-z]{1,})(?:(['’]s)\b|\b)(\s+([a-z]+))?")

# Plural nouns that are people, animals, plants, money or abstract: "The students come in 4 colors"
# or "a photo of the games" reads wrong, so object templates only take concrete things.
_NOT_OBJECTS = frozenset(
    """students friends girls boys adults teachers members guests employees customers classmates players
    workers pupils families babies attendees clients inhabitants people children kids visitors parents
    siblings brothers sisters cousins kids men women persons fans tourists passengers neighbors
    pages classes pairs packs slices quarters bills dimes nickels pennies coins pesos euros games words
    questions rides savings costs countries rooms groups letters movies songs tasks goals rounds wishes
    tests cases parts reports meals plans lessons instructions votes figures repairs sprints downloads
    washes tries spots holes seats servings portions supplies gives wants cities restaurants colors
    containers batches scoops kilos hectares cubes clusters floors bedrooms shelves articles episodes
    laps trips sessions shifts visits orders sales jobs steps levels rows stories chapters points
    birds chickens goats horses spiders insects puppies kittens tadpoles crabs flamingos unicorns
    invertebrates animals ducks dogs cats cows pigs sheep fish hens roosters rabbits frogs bees ants
    termites snakes lions tigers bears fishes puppies dolphins whales mice rats deer turtles
    flowers roses plants trees petunias sunflowers marigolds begonias lilies bushes thorns petals seeds
    termites rottweilers pomeranians penguins cougars cobras mambas snails hamsters dragons fairies
    this uses sons puts legs tons fees ties sets lines continues includes weighs buys shows scores shares
    records rewards installments milliliters watts kilowatts problems sentences pushups squats presses
    punches bumps heads stitches messages columns seniors cheerleaders coaches guides pets entrances
    has was does goes comes makes takes""".split()
)
_UNIT_WORDS = frozenset(
    """hours minutes seconds days weeks months years decades miles feet inches yards meters metres
    kilometers centimeters millimeters dollars cents pounds ounces grams kilograms liters litres gallons
    quarts pints cups tablespoons teaspoons percent times degrees calories points people persons more
    less fewer others total each units pieces items things ones""".split()
)


@dataclass(frozen=True)
class Entities:
    names: tuple[str, ...]
    objects: tuple[str, ...]  # plural nouns that follow a number in the problem ("eggs", "cupcakes")


def find_entities(question: str) -> Entities:
    names: list[str] = []
    for m in _TITLE.finditer(question):
        if m.group(2).lower() in _NOT_NAMES:
            continue
        full = f"{m.group(1)}. {m.group(2)}"
        if full not in names:
            names.append(full)
    titled = {n.split(". ", 1)[1] for n in names}
    objects: list[str] = []
    for m in re.finditer(r"\d[\d,.]*\s+((?:[a-z]+\s+){0,2}?)([a-z]{3,}s)\b", question):
        noun = m.group(2)
        if noun in _UNIT_WORDS or noun in _NOT_OBJECTS or noun.endswith(("ss", "us")) or noun in objects:
            continue
        objects.append(noun)
    lower_words = set(re.findall(r"\b[a-z]+\b", question))
    starts = set(_sentence_starts(question))
    counts: dict[str, int] = {}
    for m in _CAPWORD.finditer(question):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    for m in _CAPWORD.finditer(question):
        word, possessive, nxt = m.group(1), m.group(2), m.group(4)
        low = word.lower()
        if low in _NOT_NAMES or word in titled or word in names:
            continue
        if low in lower_words or low.rstrip("s") in lower_words or low.endswith(("ians", "ese", "ish")):
            continue  # "Ducks lay ..." next to "ducks": a common noun at a sentence start
        if possessive or (nxt and (nxt in _VERBISH or (nxt.endswith("ed") and len(nxt) > 3))):
            names.append(word)
        elif (nxt and nxt.endswith("s") and not nxt.endswith("ss") and nxt not in _UNIT_WORDS
              and nxt not in objects and len(nxt) > 3 and (m.start() not in starts or counts[word] > 1)):
            names.append(word)  # "Janet sells", "Tom walks"
    return Entities(tuple(names), tuple(objects))


# --------------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One distractor sentence pattern.

    ``conflicts``: words whose presence in the problem means the sentence could touch what the
    question asks (an age sentence in an age problem), so the template is skipped for that problem.
    ``lo``/``hi``: the range of plausible numbers for the slot ``{n}``.
    """

    id: str
    kind: str  # "name" | "object" | "scene"
    text: str
    lo: int
    hi: int
    conflicts: frozenset[str]


def _t(id: str, kind: str, text: str, lo: int, hi: int, conflicts: str) -> Template:
    return Template(id, kind, text, lo, hi, frozenset(conflicts.split()))


TEMPLATES: tuple[Template, ...] = (
    # about a person of the problem
    _t("name_cousins", "name", "{name} has {n} cousins who live in another city.", 3, 19, "cousin cousins city cities live lives relatives"),
    _t("name_neighbor_cats", "name", "{name}'s neighbor has {n} cats.", 3, 9, "neighbor neighbors neighbour cat cats pet pets animals"),
    _t("name_library", "name", "{name} lives {n} miles away from the nearest library.", 3, 29, "mile miles library libraries live lives distance far away"),
    _t("name_book", "name", "{name}'s favorite book has {n} chapters.", 11, 48, "book books chapter chapters page pages read reads reading favorite"),
    _t("name_bicycle", "name", "{name}'s bicycle is {n} years old.", 3, 14, "bicycle bicycles bike bikes old age ages year years"),
    _t("name_windows", "name", "{name}'s house has {n} windows.", 6, 24, "house houses window windows home room rooms"),
    _t("name_museums", "name", "Last summer, {name} visited {n} museums.", 3, 12, "museum museums summer visit visited visits trip"),
    _t("name_postcards", "name", "{name} keeps a collection of {n} postcards.", 21, 180, "postcard postcards card cards collection collect collects stamps"),
    _t("name_piano", "name", "{name} practices the piano for {n} minutes on Sundays.", 15, 55, "piano practice practices minute minutes sunday sundays music hour hours"),
    _t("name_garden", "name", "{name}'s grandmother has {n} rose bushes in her garden.", 4, 26, "grandmother grandma rose roses bush bushes garden flower flowers plant plants"),
    _t("name_classmates", "name", "There are {n} students in {name}'s art class.", 14, 36, "student students class classes classmates art school"),
    _t("name_age", "name", "{name}'s oldest cousin turned {n} this year.", 18, 64, "old older oldest age ages aged year years birthday cousin cousins"),
    # about a counted thing of the problem
    _t("obj_shelves", "object", "The {obj} are usually kept in a room with {n} shelves.", 3, 15, "shelf shelves room rooms store stored"),
    _t("obj_colors", "object", "The {obj} come in {n} different colors.", 3, 12, "color colors colour colours different kinds types"),
    _t("obj_article", "object", "A magazine article about {obj} was {n} pages long.", 3, 18, "magazine article page pages long length read"),
    _t("obj_warehouse", "object", "The {obj} were shipped from a warehouse {n} kilometers away.", 12, 350, "warehouse shipped ship shipping kilometer kilometers km distance away mile miles"),
    _t("obj_photo", "object", "A photo of the {obj} got {n} likes online.", 23, 390, "photo photos picture pictures like likes online post posts"),
    # about the scene
    _t("scene_temperature", "scene", "The temperature outside that day was {n} degrees.", 52, 88, "temperature degree degrees weather hot cold"),
    _t("scene_trees", "scene", "There are {n} trees along the street nearby.", 7, 40, "tree trees street streets plant plants"),
    _t("scene_bus", "scene", "The nearest bus stop is {n} meters away.", 60, 450, "bus buses stop meter meters metre metres distance away"),
    _t("scene_team", "scene", "The town's football team won {n} games last season.", 4, 17, "team teams football game games season seasons won win wins"),
    _t("scene_bakeries", "scene", "The town has {n} bakeries.", 3, 11, "town towns bakery bakeries"),
    _t("scene_parking", "scene", "The community center down the road has {n} parking spaces.", 24, 160, "parking space spaces center community car cars park road"),
    _t("scene_benches", "scene", "The local park has {n} benches.", 6, 45, "park parks bench benches"),
    _t("scene_radio", "scene", "The radio station in town has been on the air for {n} years.", 12, 70, "radio station year years town air"),
    _t("scene_newspaper", "scene", "The local newspaper printed {n} pages on Sunday.", 18, 72, "newspaper newspapers page pages sunday print printed"),
)
# Order in which kinds are drawn: entity sentences first, like CMATH, scene sentences to fill.
_KIND_PATTERN = ("name", "object", "name", "object", "scene", "name", "scene", "object", "scene", "scene")


class _Rng:
    """Counter-mode SHA-256 draws: identical on every Python version and platform (``random``'s
    methods other than ``random()`` are not guaranteed stable), so files are byte-reproducible."""

    def __init__(self, *key: object) -> None:
        self._key = json.dumps([str(k) for k in key]).encode()
        self._n = 0

    def below(self, n: int) -> int:
        self._n += 1
        digest = hashlib.sha256(self._key + b"#" + str(self._n).encode()).digest()
        return int.from_bytes(digest[:8], "big") % n

    def shuffled(self, items: Sequence[Any]) -> list[Any]:
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out


def _pick_number(rng: _Rng, lo: int, hi: int, forbidden: set[float]) -> int | None:
    span = hi - lo + 1
    start = rng.below(span)
    for step in range(span):
        n = lo + (start + step) % span
        if float(n) not in forbidden:
            return n
    return None


@dataclass
class DistractorVariant:
    """One level of a problem: ``question`` holds exactly ``k`` distractors (``distractors``, in order)."""

    k: int
    question: str
    distractors: list[str]
    templates: list[str] = field(default_factory=list)  # template id, or "llm", per distractor


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def forbidden_numbers(question: str, answer: str) -> set[float]:
    """Numbers a distractor must never contain: the problem's, its worked solution's and its answer's."""
    return numbers_in(question) | numbers_in(answer) | numbers_in(gold_answer(answer))


def template_distractors(question: str, answer: str, *, seed: int | str, k_max: int = K_MAX,
                         avoid: Iterable[float] = ()) -> tuple[list[str], list[str]]:
    """``k_max`` templated distractors for one problem, with the template id of each."""
    rng = _Rng(GENERATOR_VERSION, seed, question)
    ents = find_entities(question)
    words = _words(question)
    forbidden = forbidden_numbers(question, answer) | set(avoid)
    asked = asked_words(split_question_sentence(question)[1])
    pools: dict[str, list[Template]] = {
        kind: rng.shuffled([t for t in TEMPLATES
                            if t.kind == kind and not (t.conflicts & words) and not (_words(t.text) & asked)])
        for kind in ("name", "object", "scene")
    }
    if not ents.objects:
        pools["object"] = []
    names = rng.shuffled([n for n in ents.names if not (_words(n) & asked)])
    if not names:
        pools["name"] = []
    objects = rng.shuffled([o for o in ents.objects if o not in asked])
    if not objects:
        pools["object"] = []
    out: list[str] = []
    ids: list[str] = []
    pattern = list(_KIND_PATTERN)
    uses = {"name": 0, "object": 0}
    tried: set[str] = set()
    while len(out) < k_max:
        kind = pattern.pop(0) if pattern else "any"
        if kind == "any" or not pools.get(kind):
            kind = next((k for k in ("scene", "name", "object") if pools[k]), "")
            if not kind:
                # Every template conflicts with the problem: fall back to scene templates despite
                # their topic conflicts (never to ones about what the question asks for).
                # Least conflicting first; each template is tried at most once, so this terminates.
                pools["scene"] = sorted(
                    (t for t in TEMPLATES
                     if t.kind == "scene" and t.id not in tried and not (_words(t.text) & asked)),
                    key=lambda t: len(t.conflicts & words),
                )
                kind = "scene"
                log.debug("all templates conflict with the problem; using scene templates: %r", question[:80])
                if not pools["scene"]:
                    raise RuntimeError(f"no distractor template left for problem: {question[:80]!r}")
        template = pools[kind].pop(0)
        tried.add(template.id)
        n = _pick_number(rng, template.lo, template.hi, forbidden)
        if n is None:
            continue
        slots: dict[str, str] = {"n": str(n)}
        if kind == "name":
            slots["name"] = names[uses["name"] % len(names)]
            uses["name"] += 1
        elif kind == "object":
            slots["obj"] = objects[uses["object"] % len(objects)]
            uses["object"] += 1
        out.append(template.text.format(**slots))
        ids.append(template.id)
        forbidden.add(float(n))  # distinct numbers within a problem
    return out, ids


def assemble(question: str | tuple[str, str], distractors: Sequence[str]) -> str:
    """Insert the distractors as one block right before the final question sentence.

    ``question`` may be given already split, as ``(context, final_question)``."""
    context, final = split_question_sentence(question) if isinstance(question, str) else question
    block = " ".join(distractors)
    return " ".join(part for part in (context, block, final) if part)


def variants_from(question: str, distractors: Sequence[str], templates: Sequence[str]) -> list[DistractorVariant]:
    parts = split_question_sentence(question)
    return [
        DistractorVariant(k, assemble(parts, distractors[:k]), list(distractors[:k]), list(templates[:k]))
        for k in range(1, len(distractors) + 1)
    ]


@functools.lru_cache(maxsize=16384)
def _cached_templates(question: str, answer: str, seed: int | str, k_max: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # A task loader asks for each level of the same 1319 problems in turn; generate each problem once.
    distractors, ids = template_distractors(question, answer, seed=seed, k_max=k_max)
    return tuple(distractors), tuple(ids)


def make_distractor_variants(question: str, answer: str, *, seed: int | str, k_max: int = K_MAX) -> list[DistractorVariant]:
    """Variants 1..k_max of one GSM8K problem (offline, deterministic); ``answer`` is GSM8K's answer
    text (worked solution ending in ``#### n``) or just the final answer."""
    if not 1 <= k_max <= K_MAX:
        raise ValueError(f"k_max must be in 1..{K_MAX}, got {k_max}")
    # Always draw K_MAX and slice: level k is then the same whatever k_max the caller asked for.
    distractors, ids = _cached_templates(question, answer, seed, K_MAX)
    return variants_from(question, distractors[:k_max], ids[:k_max])


def distractor_row(index: int, src: dict[str, Any], v: DistractorVariant, seed: int | str, generator: str) -> dict[str, Any]:
    return {
        "question": v.question,
        "answer": src["answer"],
        "original_question": src["question"],
        "distractors": v.distractors,
        "k": v.k,
        "index": index,
        "distractor_templates": v.templates,
        "seed": seed,
        "generator": generator,
    }


def build_all_distractor_rows(gsm8k_rows: Sequence[dict[str, Any]], *, seed: int | str = DEFAULT_SEED,
                              k_max: int = K_MAX) -> dict[int, list[dict[str, Any]]]:
    """Rows of every level at once (one generation pass): ``{k: rows}``."""
    out: dict[int, list[dict[str, Any]]] = {k: [] for k in range(1, k_max + 1)}
    for index, src in enumerate(gsm8k_rows):
        for v in make_distractor_variants(src["question"], src["answer"], seed=seed, k_max=k_max):
            out[v.k].append(distractor_row(index, src, v, seed, GENERATOR_VERSION))
    return out


def build_distractor_rows(gsm8k_rows: list[dict], k: int, *, seed: int | str = DEFAULT_SEED) -> list[dict]:
    """GSM8K test rows with ``k`` distractors: ``{question, answer, original_question, distractors, k,
    index}`` (+ template ids, seed, generator). ``answer`` is GSM8K's own answer text, unchanged."""
    if not 1 <= k <= K_MAX:
        raise ValueError(f"k must be in 1..{K_MAX}, got {k}")
    out = []
    for index, src in enumerate(gsm8k_rows):
        distractors, ids = _cached_templates(src["question"], src["answer"], seed, K_MAX)
        v = DistractorVariant(k, assemble(src["question"], distractors[:k]), list(distractors[:k]), list(ids[:k]))
        out.append(distractor_row(index, src, v, seed, GENERATOR_VERSION))
    return out


# --------------------------------------------------------------------------------------------------
# Safety check of a candidate distractor (the LLM mode keeps only sentences that pass it)
# --------------------------------------------------------------------------------------------------


def check_distractor(sentence: str, question: str, answer: str, *, others: Sequence[str] = ()) -> list[str]:
    """Why ``sentence`` may not be used as a distractor for this problem (empty list: it may).

    It must be one short declarative sentence, carry a number, share no number with the problem,
    its solution or its answer (nor with the other distractors), and not restate the question.
    """
    problems: list[str] = []
    s = sentence.strip()
    _, final = split_question_sentence(question)
    if not s:
        return ["empty"]
    if "?" in s or "？" in s:
        problems.append("contains a question mark")
    if len(s) > 200:
        problems.append("longer than 200 characters")
    if "\n" in s:
        problems.append("spans several lines")
    if len(_sentence_starts(s)) > 1:
        problems.append("more than one sentence")
    if not s.endswith((".", "!")):
        problems.append("does not end with a period")
    nums = numbers_in(s)
    if not _NUMBER.search(s):
        problems.append("holds no number written in digits")
    clash = nums & forbidden_numbers(question, answer)
    if clash:
        problems.append(f"reuses a number of the problem or its answer: {sorted(clash)}")
    for other in others:
        both = (nums & numbers_in(other)) - {0.0}
        if both:
            problems.append(f"reuses a number of another distractor: {sorted(both)}")
            break
    if final.strip().lower() in s.lower() or s.lower() in question.lower():
        problems.append("repeats a sentence of the problem")
    asked = asked_words(final)
    touched = sorted(asked & _words(s))
    if touched:
        problems.append(f"talks about what the question asks for: {touched}")
    asks_money = "$" in final or bool(_MONEY_WORDS & (asked | _words(final)))
    mentions_money = "$" in s or bool(_MONEY_WORDS & _words(s))
    if asks_money and mentions_money:
        problems.append("mentions money in a problem that asks for money")
    return problems


_MONEY_WORDS = frozenset({"dollar", "dollars", "cent", "cents", "money", "cost", "costs", "price", "pay", "paid", "earn", "earns", "profit", "spend", "spent", "save", "saves"})
_ASK = re.compile(r"\bhow\s+(?:many|much)\s+((?:[a-z-]+\s+){0,3})", re.I)
_ASK_STOP = frozenset("""more less fewer does do did is are was were will would can could should has have had the a an of
    in on at total altogether she he they it her his their in all per each must may might shall that which
    who think""".split())


def asked_words(final_question: str) -> set[str]:
    """Content words right after "how many/much" in the question ("how many eggs does ..." -> {eggs, egg}):
    a distractor about those is no longer irrelevant, so the LLM mode rejects it."""
    out: set[str] = set()
    for m in _ASK.finditer(final_question):
        for w in m.group(1).lower().split()[:2]:
            if w in _ASK_STOP:
                break
            out.add(w)
            if w.endswith("s") and len(w) > 3:
                out.add(w[:-1])
    if re.search(r"\bhow\s+much\b", final_question, re.I) and not out:
        out.add("money")
    return out
