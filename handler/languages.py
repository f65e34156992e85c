"""Languages Gcore AI can transcribe and translate (ISO 639-2/B codes).

Facts from Gcore's OpenAPI description of ``/streaming/ai/info`` and ``audio_language``: every
language here can be transcribed and translated into English; only those marked
``translate_any`` can be translated to and from each other.  Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # ISO 639-2/B, what Gcore's API takes
    code_t: str  # ISO 639-2/T
    name: str
    translate_any: bool


_LANGUAGES: tuple[Language, ...] = (
    Language("afr", "afr", "Afrikaans", True),
    Language("alb", "sqi", "Albanian", False),
    Language("amh", "amh", "Amharic", True),
    Language("ara", "ara", "Arabic", True),
    Language("arm", "hye", "Armenian", True),
    Language("asm", "asm", "Assamese", True),
    Language("aze", "aze", "Azerbaijani", True),
    Language("bak", "bak", "Bashkir", False),
    Language("baq", "eus", "Basque", True),
    Language("bel", "bel", "Belarusian", True),
    Language("ben", "ben", "Bengali", True),
    Language("bos", "bos", "Bosnian", True),
    Language("bre", "bre", "Breton", False),
    Language("bul", "bul", "Bulgarian", True),
    Language("bur", "mya", "Myanmar", True),
    Language("cat", "cat", "Catalan", True),
    Language("chi", "zho", "Chinese", True),
    Language("cze", "ces", "Czech", True),
    Language("dan", "dan", "Danish", True),
    Language("dut", "nld", "Dutch", True),
    Language("eng", "eng", "English", True),
    Language("est", "est", "Estonian", True),
    Language("fao", "fao", "Faroese", False),
    Language("fin", "fin", "Finnish", True),
    Language("fre", "fra", "French", True),
    Language("geo", "kat", "Georgian", True),
    Language("ger", "deu", "German", True),
    Language("glg", "glg", "Galician", True),
    Language("gre", "ell", "Greek", True),
    Language("guj", "guj", "Gujarati", True),
    Language("hat", "hat", "Haitian creole", False),
    Language("hau", "hau", "Hausa", False),
    Language("haw", "haw", "Hawaiian", False),
    Language("heb", "heb", "Hebrew", True),
    Language("hin", "hin", "Hindi", True),
    Language("hrv", "hrv", "Croatian", True),
    Language("hun", "hun", "Hungarian", True),
    Language("ice", "isl", "Icelandic", True),
    Language("ind", "ind", "Indonesian", True),
    Language("ita", "ita", "Italian", True),
    Language("jav", "jav", "Javanese", True),
    Language("jpn", "jpn", "Japanese", True),
    Language("kan", "kan", "Kannada", True),
    Language("kaz", "kaz", "Kazakh", True),
    Language("khm", "khm", "Khmer", True),
    Language("kor", "kor", "Korean", True),
    Language("lao", "lao", "Lao", True),
    Language("lat", "lat", "Latin", False),
    Language("lav", "lav", "Latvian", True),
    Language("lin", "lin", "Lingala", False),
    Language("lit", "lit", "Lithuanian", True),
    Language("ltz", "ltz", "Luxembourgish", False),
    Language("mac", "mkd", "Macedonian", True),
    Language("mal", "mal", "Malayalam", True),
    Language("mao", "mri", "Maori", False),
    Language("mar", "mar", "Marathi", True),
    Language("may", "msa", "Malay", False),
    Language("mlg", "mlg", "Malagasy", False),
    Language("mlt", "mlt", "Maltese", True),
    Language("mon", "mon", "Mongolian", True),
    Language("nep", "nep", "Nepali", True),
    Language("nno", "nno", "Norwegian Nynorsk", True),
    Language("nor", "nor", "Norwegian", False),
    Language("oci", "oci", "Occitan", False),
    Language("pan", "pan", "Punjabi", True),
    Language("per", "fas", "Persian", True),
    Language("pol", "pol", "Polish", True),
    Language("por", "por", "Portuguese", True),
    Language("pus", "pus", "Pashto", True),
    Language("rum", "ron", "Romanian", True),
    Language("rus", "rus", "Russian", True),
    Language("san", "san", "Sanskrit", False),
    Language("sin", "sin", "Sinhala", False),
    Language("slo", "slk", "Slovak", True),
    Language("slv", "slv", "Slovenian", True),
    Language("sna", "sna", "Shona", True),
    Language("snd", "snd", "Sindhi", True),
    Language("som", "som", "Somali", True),
    Language("spa", "spa", "Spanish", True),
    Language("srp", "srp", "Serbian", True),
    Language("sun", "sun", "Sundanese", False),
    Language("swa", "swa", "Swahili", True),
    Language("swe", "swe", "Swedish", True),
    Language("tam", "tam", "Tamil", True),
    Language("tat", "tat", "Tatar", False),
    Language("tel", "tel", "Telugu", True),
    Language("tgk", "tgk", "Tajik", True),
    Language("tgl", "tgl", "Tagalog", True),
    Language("tha", "tha", "Thai", True),
    Language("tib", "bod", "Tibetan", False),
    Language("tuk", "tuk", "Turkmen", False),
    Language("tur", "tur", "Turkish", True),
    Language("ukr", "ukr", "Ukrainian", True),
    Language("urd", "urd", "Urdu", True),
    Language("uzb", "uzb", "Uzbek", False),
    Language("vie", "vie", "Vietnamese", True),
    Language("wel", "cym", "Welsh", True),
    Language("yid", "yid", "Yiddish", False),
    Language("yor", "yor", "Yoruba", True),
)

BY_CODE: dict[str, Language] = {lang.code: lang for lang in _LANGUAGES}
# Gcore's /ai/info lists T codes under a B label; accept them as input and map to B.
_T_TO_B: dict[str, str] = {lang.code_t: lang.code for lang in _LANGUAGES}

AUTO = "auto"


class UnknownLanguage(ValueError):
    """A language code that Gcore AI does not know."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(
            f"unknown language code {code!r}: use a 3-letter ISO 639-2/B code, one of "
            + ", ".join(sorted(BY_CODE))
        )


def normalise_code(code: str) -> str:
    """Return the B code for ``code`` (B or T form, any case), or raise UnknownLanguage."""
    key = code.strip().lower()
    if key in BY_CODE:
        return key
    if key in _T_TO_B:
        return _T_TO_B[key]
    raise UnknownLanguage(code)


def name_of(code: str) -> str:
    lang = BY_CODE.get(code)
    return lang.name if lang else code


def track_name(code: str) -> str:
    """The subtitle track name we give our tracks, e.g. "French (AI-generated)"."""
    return f"{name_of(code)} (AI-generated)"


def pair_plausible(source: str, target: str) -> bool:
    """What the published lists say about translating ``source`` into ``target``.

    Gcore's ``/ai/info`` answer is authoritative; this is the offline prior.
    """
    if source == target:
        return True
    src, dst = BY_CODE.get(source), BY_CODE.get(target)
    if src is None or dst is None:
        return False
    if target == "eng":
        return True
    return src.translate_any and dst.translate_any


def all_codes() -> list[str]:
    return sorted(BY_CODE)
