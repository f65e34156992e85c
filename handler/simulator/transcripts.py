"""Sample speech for simulated videos: a two-minute talk, as Whisper would segment it.

The English talk is the "spoken" content of every simulated video; the French, German and
Spanish lists are hand-written translations of the same cues (same order, same timing), so a
translation task can return real text.  The cue shapes are deliberately uneven, like real ASR
output: some cues run to two subtitle lines' worth of text, some are a single word, and the
final silence holds a hallucinated sign-off, the classic Whisper artefact that a QC pass
should notice.  Pure data, no logic beyond lookups.
"""

from __future__ import annotations

from typing import Final

# The talk repeats with this period when a video is longer than the talk.
TALK_PERIOD_MS: Final = 120_000

# (start ms, end ms) of each spoken cue within one period; speech ends at 112.39 s.
CUE_TIMES_MS: Final[tuple[tuple[int, int], ...]] = (
    (9, 3_689),
    (4_129, 8_169),
    (8_450, 9_310),
    (9_870, 15_230),
    (15_610, 19_004),
    (19_502, 24_880),
    (25_320, 26_100),
    (26_540, 31_990),
    (32_400, 37_705),
    (38_120, 42_360),
    (42_800, 47_915),
    (48_330, 50_020),
    (50_450, 55_870),
    (56_290, 60_540),
    (61_000, 65_430),
    (65_900, 67_210),
    (67_680, 68_490),
    (69_050, 74_720),
    (75_150, 78_330),
    (78_900, 84_610),
    (85_020, 89_870),
    (90_300, 95_480),
    (95_900, 97_050),
    (97_600, 103_240),
    (103_700, 107_980),
    (108_400, 110_120),
    (110_500, 112_390),
)

# Where the hallucinated sign-off sits relative to the end of the last real cue.
HALLUCINATION_GAP_MS: Final = 1_821
HALLUCINATION_LENGTH_MS: Final = 2_692

TALK: Final[dict[str, tuple[str, ...]]] = {
    "eng": (
        "Hi everyone, and thanks for coming out on a rainy Tuesday evening.",
        "Tonight I want to talk about something that lives right above our heads: rooftop bees.",
        "Yes, bees.",
        "Three years ago our building put two hives on the roof, mostly as an experiment, and "
        "honestly, nobody expected them to survive the first winter.",
        "They did. And the second winter, and the third.",
        "So what I'd like to do tonight is share what we learned, what went wrong, and what "
        "surprised us.",
        "Okay.",
        "First, the numbers. A healthy colony in summer has somewhere between forty and sixty "
        "thousand bees.",
        "On a good day they forage up to three kilometres from the hive, which in a city means "
        "parks, balconies, street trees, even cemeteries.",
        "And that's the first surprise: cities are actually pretty good places for bees.",
        "There are fewer pesticides than on farmland, and the flowers bloom at different times, "
        "so there's food for most of the year.",
        "But it's not all easy.",
        "Our first problem was water. Bees need a lot of it, especially on hot days, and a roof "
        "is basically a desert.",
        "We put out a shallow tray with some stones in it so they don't drown, and that fixed it "
        "within a week.",
        "The second problem was the neighbours, which, to be fair, was more of a people problem "
        "than a bee problem.",
        "Someone called the fire brigade.",
        "Twice.",
        "So we started a small newsletter, we invited people up to see the hives, and we gave "
        "every flat a jar of honey in September.",
        "Nobody has called the fire brigade since.",
        "Now, honey. People always ask how much we get, and the answer is: it depends a lot on "
        "the weather and on how greedy you are.",
        "We leave most of it for the bees, because they need it to get through the winter, and "
        "we take maybe fifteen kilos a year.",
        "It tastes different every season: lime trees in early summer, then something darker in "
        "August that we still can't identify.",
        "If you know, tell me.",
        "The last thing I want to say is that you don't need a roof or a garden to help. Plant "
        "something that flowers, leave a bit of lawn uncut, put out water.",
        "Bees are very good at finding those places, much better than we are at noticing them.",
        "So, that's it from me.",
        "I'm happy to take questions.",
    ),
    "fre": (
        "Bonjour à tous, et merci d'être venus par ce mardi soir pluvieux.",
        "Ce soir, je voudrais vous parler de quelque chose qui vit juste au-dessus de nos têtes : "
        "les abeilles des toits.",
        "Oui, des abeilles.",
        "Il y a trois ans, notre immeuble a installé deux ruches sur le toit, surtout pour voir, "
        "et honnêtement, personne ne pensait qu'elles passeraient le premier hiver.",
        "Elles l'ont passé. Et le deuxième hiver, et le troisième.",
        "Alors ce soir, j'aimerais partager ce que nous avons appris, ce qui a mal tourné et ce "
        "qui nous a surpris.",
        "Bon.",
        "D'abord, les chiffres. En été, une colonie en bonne santé compte entre quarante et "
        "soixante mille abeilles.",
        "Par beau temps, elles butinent jusqu'à trois kilomètres de la ruche, ce qui, en ville, "
        "veut dire des parcs, des balcons, des arbres d'alignement, et même des cimetières.",
        "Et c'est la première surprise : les villes sont en fait d'assez bons endroits pour les "
        "abeilles.",
        "Il y a moins de pesticides qu'à la campagne, et les fleurs ne fleurissent pas toutes en "
        "même temps, donc il y a de quoi manger presque toute l'année.",
        "Mais tout n'est pas simple.",
        "Notre premier problème, c'était l'eau. Les abeilles en ont besoin de beaucoup, surtout "
        "quand il fait chaud, et un toit, c'est pratiquement un désert.",
        "Nous avons posé un bac peu profond avec quelques pierres pour qu'elles ne se noient pas, "
        "et en une semaine, c'était réglé.",
        "Le deuxième problème, c'était les voisins, ce qui, pour être honnête, était plus un "
        "problème humain qu'un problème d'abeilles.",
        "Quelqu'un a appelé les pompiers.",
        "Deux fois.",
        "Alors nous avons lancé une petite lettre d'information, nous avons invité les gens à "
        "venir voir les ruches, et nous avons offert un pot de miel à chaque appartement en "
        "septembre.",
        "Personne n'a rappelé les pompiers depuis.",
        "Parlons du miel. On nous demande toujours combien nous en récoltons, et la réponse est : "
        "ça dépend beaucoup de la météo et de votre gourmandise.",
        "Nous en laissons la plus grande partie aux abeilles, parce qu'elles en ont besoin pour "
        "passer l'hiver, et nous en prenons peut-être quinze kilos par an.",
        "Il a un goût différent à chaque saison : tilleul au début de l'été, puis quelque chose "
        "de plus foncé en août que nous n'arrivons toujours pas à identifier.",
        "Si vous savez, dites-le-moi.",
        "La dernière chose que je voudrais dire, c'est qu'il n'est pas nécessaire d'avoir un toit "
        "ou un jardin pour aider. Plantez quelque chose qui fleurit, laissez un coin de pelouse "
        "sans le tondre, mettez de l'eau.",
        "Les abeilles savent très bien trouver ces endroits, bien mieux que nous ne savons les "
        "remarquer.",
        "Voilà, c'est tout pour moi.",
        "Je réponds volontiers à vos questions.",
    ),
    "ger": (
        "Hallo zusammen, und danke, dass ihr an einem verregneten Dienstagabend gekommen seid.",
        "Heute Abend möchte ich über etwas sprechen, das direkt über unseren Köpfen lebt: "
        "Bienen auf dem Dach.",
        "Ja, Bienen.",
        "Vor drei Jahren hat unser Haus zwei Bienenstöcke auf das Dach gestellt, vor allem als "
        "Experiment, und ehrlich gesagt hat niemand erwartet, dass sie den ersten Winter "
        "überleben.",
        "Haben sie aber. Und den zweiten Winter und den dritten.",
        "Deshalb möchte ich heute erzählen, was wir gelernt haben, was schiefgegangen ist und "
        "was uns überrascht hat.",
        "Okay.",
        "Zuerst die Zahlen. Ein gesundes Volk hat im Sommer zwischen vierzig- und "
        "sechzigtausend Bienen.",
        "An einem guten Tag fliegen sie bis zu drei Kilometer weit, und in einer Stadt heißt das "
        "Parks, Balkone, Straßenbäume, sogar Friedhöfe.",
        "Und das ist die erste Überraschung: Städte sind eigentlich ziemlich gute Orte für Bienen.",
        "Es gibt weniger Pestizide als auf dem Land, und die Blumen blühen zu unterschiedlichen "
        "Zeiten, also gibt es fast das ganze Jahr über Futter.",
        "Aber es ist nicht alles einfach.",
        "Unser erstes Problem war Wasser. Bienen brauchen viel davon, besonders an heißen Tagen, "
        "und ein Dach ist im Grunde eine Wüste.",
        "Wir haben eine flache Schale mit ein paar Steinen aufgestellt, damit sie nicht "
        "ertrinken, und nach einer Woche war das Problem gelöst.",
        "Das zweite Problem waren die Nachbarn, was, um fair zu sein, eher ein Menschenproblem "
        "als ein Bienenproblem war.",
        "Jemand hat die Feuerwehr gerufen.",
        "Zweimal.",
        "Also haben wir einen kleinen Newsletter gestartet, die Leute eingeladen, sich die "
        "Bienenstöcke anzusehen, und jeder Wohnung im September ein Glas Honig geschenkt.",
        "Seitdem hat niemand mehr die Feuerwehr gerufen.",
        "Jetzt zum Honig. Die Leute fragen immer, wie viel wir ernten, und die Antwort ist: Das "
        "hängt stark vom Wetter ab und davon, wie gierig man ist.",
        "Das meiste lassen wir den Bienen, weil sie es für den Winter brauchen, und wir nehmen "
        "vielleicht fünfzehn Kilo im Jahr.",
        "Er schmeckt jede Saison anders: Linde im Frühsommer, dann im August etwas Dunkleres, "
        "das wir immer noch nicht bestimmen können.",
        "Wenn ihr es wisst, sagt es mir.",
        "Das Letzte, was ich sagen möchte: Man braucht kein Dach und keinen Garten, um zu "
        "helfen. Pflanzt etwas, das blüht, lasst ein Stück Rasen stehen, stellt Wasser hin.",
        "Bienen finden solche Orte sehr gut, viel besser, als wir sie bemerken.",
        "Also, das war's von mir.",
        "Ich beantworte gern eure Fragen.",
    ),
    "spa": (
        "Hola a todos, y gracias por venir en este martes lluvioso.",
        "Esta noche quiero hablar de algo que vive justo encima de nuestras cabezas: las abejas "
        "de las azoteas.",
        "Sí, abejas.",
        "Hace tres años, nuestro edificio puso dos colmenas en la azotea, sobre todo como "
        "experimento, y la verdad es que nadie esperaba que sobrevivieran al primer invierno.",
        "Sobrevivieron. Y al segundo invierno, y al tercero.",
        "Así que esta noche me gustaría contaros lo que aprendimos, lo que salió mal y lo que nos "
        "sorprendió.",
        "Bueno.",
        "Primero, los números. Una colonia sana en verano tiene entre cuarenta y sesenta mil "
        "abejas.",
        "En un buen día recorren hasta tres kilómetros desde la colmena, lo que en una ciudad "
        "significa parques, balcones, árboles de la calle e incluso cementerios.",
        "Y esa es la primera sorpresa: las ciudades son en realidad bastante buenos lugares para "
        "las abejas.",
        "Hay menos pesticidas que en el campo, y las flores florecen en momentos distintos, así "
        "que hay comida casi todo el año.",
        "Pero no todo es fácil.",
        "Nuestro primer problema fue el agua. Las abejas necesitan mucha, sobre todo los días de "
        "calor, y una azotea es básicamente un desierto.",
        "Pusimos una bandeja poco profunda con algunas piedras para que no se ahogaran, y en una "
        "semana quedó resuelto.",
        "El segundo problema fueron los vecinos, que, para ser justos, era más un problema de "
        "personas que de abejas.",
        "Alguien llamó a los bomberos.",
        "Dos veces.",
        "Así que empezamos un pequeño boletín, invitamos a la gente a subir a ver las colmenas y "
        "en septiembre regalamos un tarro de miel a cada piso.",
        "Desde entonces nadie ha vuelto a llamar a los bomberos.",
        "Ahora, la miel. La gente siempre pregunta cuánta sacamos, y la respuesta es: depende "
        "mucho del tiempo y de lo codicioso que seas.",
        "Dejamos la mayor parte para las abejas, porque la necesitan para pasar el invierno, y "
        "nos quedamos quizá con quince kilos al año.",
        "Sabe distinta cada temporada: tilo a principios del verano y luego algo más oscuro en "
        "agosto que todavía no sabemos identificar.",
        "Si lo sabéis, decídmelo.",
        "Lo último que quiero decir es que no hace falta una azotea ni un jardín para ayudar. "
        "Plantad algo que florezca, dejad un trozo de césped sin cortar, poned agua.",
        "A las abejas se les da muy bien encontrar esos sitios, mucho mejor que a nosotros "
        "darnos cuenta de ellos.",
        "Bueno, eso es todo por mi parte.",
        "Con mucho gusto respondo a vuestras preguntas.",
    ),
}

# What Whisper "hears" in the trailing silence, per output language.
HALLUCINATION: Final[dict[str, str]] = {
    "eng": "Thanks for watching!",
    "fre": "Merci d'avoir regardé !",
    "ger": "Danke fürs Zuschauen!",
    "spa": "¡Gracias por ver el video!",
}


def hand_translated(language: str) -> bool:
    """Whether ``language`` has real text rather than a marked placeholder."""
    return language in TALK
