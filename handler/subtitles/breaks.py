"""Where a line may break, per language: the cost of breaking before each unit.

Netflix's rules: break after punctuation and before conjunctions and prepositions; never
between article and noun, first and last name, pronoun and verb. Lower is better; the
wrapper adds these costs to a balance term, so a good break point wins over a slightly more
even one. Adjective + noun needs a tagger and is left to the balance term.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from handler.subtitles.scripts import Tokens

NEVER = 1000.0
_SENTENCE_END = 40.0
_CLAUSE_END = 25.0
_BEFORE_CONJUNCTION = 15.0
_BEFORE_PREPOSITION = 12.0
_AFTER_PREPOSITION = 20.0
_SPLITS_PAIR = 30.0  # pronoun + verb, first + last name
_JAPANESE_AFTER_PARTICLE = 12.0
_JAPANESE_OKURIGANA = 8.0
_CHINESE_PARTICLE = 8.0

_SENTENCE_MARKS = frozenset(".!?…。！？")
_CLAUSE_MARKS = frozenset(",;:，、；：–—")
_CLOSERS = "\"'»)]}”’」』）】〕》〉"
_OPENERS = frozenset("\"'«([{“‘「『（【〔《〈¿¡")
_DASHES = frozenset({"-", "–", "—"})
# Japanese and Chinese characters that may not start a line (kinsoku shori).
_NO_LINE_START = frozenset(
    "、。，．,.!?！？：；:;)]}）】〕》〉」』”’ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々…"
)
_PARTICLES = frozenset("はがをにでともへや")
# Without a word list, Chinese breaks best after structural particles and before the
# characters that open a conjunction (和, 但是, 因为, 所以, 而且, 或者, 如果, 可是).
_CHINESE_AFTER = frozenset("的了着过地得")
_CHINESE_BEFORE = frozenset("和但因所而或如可")
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "st.", "m.", "mme.", "z.b.", "etc.", "vs."}
)


@dataclass(frozen=True, slots=True)
class BreakRules:
    no_break_after: frozenset[str]  # articles and determiners
    conjunctions: frozenset[str]
    prepositions: frozenset[str]
    pronouns: frozenset[str]  # subject pronouns: keep with their verb
    names_capitalised: bool  # capitals mark names (not so in German, where nouns have them)
    japanese: bool = False
    chinese: bool = False


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_RULES: dict[str, BreakRules] = {
    "eng": BreakRules(
        _words("a an the my your his its our their every"),
        _words("and but or nor so because although though while if when unless until whereas"),
        _words(
            "about above across after against along among around at before behind below "
            "beneath beside between beyond by down during except for from in inside into "
            "near of off on onto out outside over past since through throughout to toward "
            "towards under underneath up upon with within without"
        ),
        _words("i you he she we they it"),
        names_capitalised=True,
    ),
    "fre": BreakRules(
        _words(
            "le la les l' un une des du au aux ce cet cette ces mon ma mes ton ta tes son sa "
            "ses notre nos votre vos leur leurs quelques chaque"
        ),
        _words("et ou mais donc car ni que parce puisque lorsque quand si comme pendant"),
        _words(
            "à de dans par pour sur sous avec sans chez vers entre contre depuis devant "
            "derrière avant après selon malgré envers parmi"
        ),
        _words("je j' tu il elle on nous vous ils elles"),
        names_capitalised=True,
    ),
    "ger": BreakRules(
        _words(
            "der die das den dem des ein eine einen einem einer eines kein keine keinen "
            "keinem keiner mein meine meinen meinem dein deine sein seine ihr ihre unser "
            "unsere euer eure dieser diese dieses diesen diesem jeder jede jedes"
        ),
        _words("und oder aber denn sondern weil dass damit obwohl wenn als ob während bevor"),
        _words(
            "in an auf mit von zu für über unter bei nach aus durch gegen ohne um vor "
            "hinter neben zwischen seit bis"
        ),
        _words("ich du er sie es wir ihr"),
        names_capitalised=False,
    ),
    "spa": BreakRules(
        _words("el la los las un una unos unas lo este esta estos estas mi mis tu tus su sus"),
        _words("y e o u pero sino porque aunque que si cuando mientras pues"),
        _words(
            "a ante bajo con contra de desde durante en entre hacia hasta para por según "
            "sin sobre tras"
        ),
        _words("yo tú él ella nosotros vosotros ellos ellas usted ustedes"),
        names_capitalised=True,
    ),
    "ita": BreakRules(
        _words("il lo la i gli le un uno una l' un' questo questa questi queste mio mia"),
        _words("e ed o ma però perché che se quando mentre anche oppure"),
        _words("a di da in con su per tra fra al allo alla ai agli alle del dello della nel"),
        _words("io tu lui lei noi voi loro"),
        names_capitalised=True,
    ),
    "por": BreakRules(
        _words("o a os as um uma uns umas este esta estes estas meu minha seu sua"),
        _words("e ou mas porque porém que se quando enquanto embora"),
        _words("a de em com por para sem sobre entre até desde do da dos das no na nos nas"),
        _words("eu tu ele ela nós vós eles elas você vocês"),
        names_capitalised=True,
    ),
    "rus": BreakRules(
        _words("этот эта это эти мой моя моё мои твой твоя наш наша ваш ваша"),
        _words("и а но или что чтобы потому если когда хотя пока либо"),
        _words("в во на с со к ко по о об от до из у за для без под над при про через"),
        _words("я ты он она оно мы вы они"),
        names_capitalised=True,
    ),
}
_DEFAULT = BreakRules(frozenset(), frozenset(), frozenset(), frozenset(), names_capitalised=False)
_JAPANESE = BreakRules(
    frozenset(), frozenset(), frozenset(), frozenset(), names_capitalised=False, japanese=True
)
_CHINESE = BreakRules(
    frozenset(), frozenset(), frozenset(), frozenset(), names_capitalised=False, chinese=True
)


def rules_for(language: str) -> BreakRules:
    if language == "jpn":
        return _JAPANESE
    if language == "chi":
        return _CHINESE
    return _RULES.get(language, _DEFAULT)


def break_costs(tokens: Tokens, rules: BreakRules) -> list[float]:
    """costs[i] is the cost of starting a new line at tokens.words[i] (costs[0] is unused)."""
    words = tokens.words
    keys = [_key(word) for word in words]
    costs = [0.0] * len(words)
    for i in range(1, len(words)):
        costs[i] = _cost(words[i - 1], words[i], keys[i - 1], keys[i], rules)
    return costs


_EDGE_PUNCTUATION = _CLOSERS + "".join(_OPENERS) + ",;:.!?…"


@lru_cache(maxsize=32_768)  # pure, and words repeat: a track reuses a few thousand of them
def _key(word: str) -> str:
    stripped = word.strip(_EDGE_PUNCTUATION)
    # French and Italian elision: "l'homme" is article + noun in one unit, look at "l'".
    for apostrophe in ("'", "’"):
        head, sep, tail = stripped.partition(apostrophe)
        if sep and tail and len(head) <= 2:
            return head.casefold() + "'"
    return stripped.casefold()


def _cost(prev: str, word: str, prev_key: str, key: str, rules: BreakRules) -> float:
    if word[0] in _NO_LINE_START or prev[-1] in _OPENERS or not _has_alnum(word):
        if word in _DASHES and prev.rstrip(_CLOSERS)[-1:] in _SENTENCE_MARKS:
            return -_SENTENCE_END * 1.5  # a dialogue dash opens the second speaker's line
        return NEVER
    last = prev.rstrip(_CLOSERS)[-1:]
    if prev_key in rules.no_break_after and last.isalnum():
        return NEVER
    cost = 0.0
    if last in _SENTENCE_MARKS and prev.casefold() not in _ABBREVIATIONS:
        cost -= _SENTENCE_END
    elif last in _CLAUSE_MARKS:
        cost -= _CLAUSE_END
    if key in rules.conjunctions:
        cost -= _BEFORE_CONJUNCTION
    elif key in rules.prepositions:
        cost -= _BEFORE_PREPOSITION
    if prev_key in rules.prepositions and last.isalnum():
        cost += _AFTER_PREPOSITION
    if prev_key in rules.pronouns and last.isalnum():
        cost += _SPLITS_PAIR
    if rules.names_capitalised and _is_name_pair(prev, word):
        cost += _SPLITS_PAIR
    if rules.japanese or rules.chinese:
        if _latin_pair(prev[-1], word[0]):
            cost += _SPLITS_PAIR  # a Latin phrase inside CJK text is usually a name
        cost += _japanese(prev[-1], word[0]) if rules.japanese else _chinese(prev[-1], word[0])
    return cost


def _has_alnum(word: str) -> bool:
    return word[0].isalnum() or word[-1].isalnum() or any(c.isalnum() for c in word)


def _latin_pair(last: str, first: str) -> bool:
    return last.isascii() and last.isalnum() and first.isascii() and first.isalnum()


def _is_name_pair(prev: str, word: str) -> bool:
    return prev.isalpha() and prev[:1].isupper() and word[:1].isupper()


def _japanese(prev: str, first: str) -> float:
    hiragana = "\u3041" <= first <= "\u309f"
    if prev in _PARTICLES and not hiragana:
        return -_JAPANESE_AFTER_PARTICLE
    if "\u4e00" <= prev <= "\u9fff" and hiragana:
        return _JAPANESE_OKURIGANA
    return 0.0


def _chinese(prev: str, first: str) -> float:
    if prev in _CHINESE_AFTER or first in _CHINESE_BEFORE:
        return -_CHINESE_PARTICLE
    return 0.0
