"""Text Whisper-style ASR writes into silence and music, in the form ``match_key`` gives it.

Patterns must match a cue's whole text (one or more of them in a row), so a speaker who
thanks the audience in the middle of a sentence keeps the sentence. Bare "Thank you." is
deliberately absent: people say it. Sources: subtitle-style.md and the phrases reported
against openai/whisper; credit lines name the subtitle crews whose work Whisper learnt from.
"""

from __future__ import annotations

KNOWN_PHRASES: tuple[str, ...] = (
    # English
    r"(thank you|thanks)( (so|very) much)? for watching( (this|the|my|our) (video|channel))?",
    r"(please |don t forget to |be sure to )?(like (and|&) )?subscribe( to (my|our|the) channel)?",
    r"(please )?like (and|&) subscribe",
    r"(english )?(subtitles|captions|captioning|transcription|transcript) "
    r"(by|created by|made by|provided by|produced by) .*",
    r"(transcribed|translated|subtitled|captioned) by .*",
    r".*\bamara org\b.*",
    # French
    r"merci d avoir regardé( (cette|la) vidéo)?",
    r"(n oubliez pas de )?(vous abonner|abonnez vous)( à (la|ma|notre) chaîne)?",
    r"sous titr(es|age)( réalisés?| faits?)?( (par|de|pour) .*| st \d+| société radio canada)",
    # German
    r"(vielen )?danke? (fürs|für s|für das|für ihr) zu(sehen|schauen)",
    r"(bitte )?(abonniert|abonniere|abonnieren sie) (den|meinen|unseren) kanal",
    r"untertitel(ung)? (im auftrag|von|der|des|durch|für) .*",
    r"copyright wdr \d+",
    # Spanish
    r"gracias por (ver|mirar)( el| este)?( video| vídeo)?",
    r"(no olvides )?(suscríbete|suscribirte|suscribete)( (a|al) (mi |nuestro )?canal)?",
    r"subtítulos (realizados |hechos |creados )?por .*",
    # Italian
    r"grazie (per la visione|per aver guardato( (il|questo) video)?)",
    r"iscriviti( al (mio |nostro )?canale)?",
    r"sottotitoli (creati dalla|realizzati da|a cura di|e revisione a cura di) .*",
    # Portuguese
    r"obrigad[oa] por (assistir|ver)( (ao|o) (vídeo|video))?",
    r"inscreva se( no (meu |nosso )?canal)?",
    r"legendas? (pela|por) .*",
    # Russian
    r"спасибо за просмотр",
    r"подписывайтесь на (наш |мой )?канал",
    r"субтитры (сделал|создавал|создал|делал|подготовил|подогнал|by|от) .*",
    r"редактор субтитров .*",
    r"продолжение следует",
    # Japanese
    r"(最後まで)?ご視聴(いただき|頂き)?(ありがとうございました|ありがとうございます)",
    r"チャンネル登録(を)?(よろしく)?お願い(いた)?します",
    # Chinese
    r"(谢谢|感谢|謝謝|感謝)(大家|您)?(的)?(观看|收看|觀看)",
    r"(请|請)不吝(点赞|點贊).*",
    r"字幕(由|志愿者|志願者|制作|製作).*",
    r"(订阅|訂閱)(我的)?(频道|頻道)",
    r"明镜与点点栏目",
)
