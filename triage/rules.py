"""Safety rules: a small table of English and Spanish patterns that can only RAISE urgency.

The model learns from examples; these rules encode what a school-safety professional already knows
must never wait (a weapon at school now, a suicide plan with a time, a goodbye message...). A rule
sets a floor: the final urgency is the higher of the model's and the floor, so a rule can never
lower anything. Patterns run on `text.normalize()` output: lowercase, no accents, no apostrophes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from triage.taxonomy import max_urgency


def _words(*alternatives: str) -> str:
    """A regex matching any of the alternatives as whole words."""
    return r"\b(?:" + "|".join(alternatives) + r")\b"


# --- Vocabulary shared by the rules (English | Spanish) --------------------------------------------
WEAPON = _words(
    # not the gun of a school programme: a gun or hunter safety class, a rifle or trap team, a range
    r"(?<!thermometer )(?<!temperature )(?<!temp )(?<!glue )(?<!staple )(?<!nail )"
    r"guns?(?! (?:safety(?! off)|club|range|show|laws?|violence|control|free|rights|polic(?:y|ies))\b)",
    r"pistols?",
    r"handguns?",
    "glock",
    r"(?<!drill )(?<!dummy )rifles?(?! (?:team|club|range|practice|match|meet)\b)",
    r"ar ?-?15",
    r"shotguns?",
    r"firearms?",
    "revolver",
    "knife",
    "knives",
    r"pocket ?knife|pocketknives|9 ?mm",
    r"(?<!sro is )(?<!officer is )(?<!officers are )(?<!police are )(?<!guard is )(?<!deputy is )"
    r"armed(?! (?:forces|services|guards?|officers?|police|sros?|robbery|with (?!a |an )\w+)\b)",
    r"armad[oa]s? (?:a|en|con)",
    r"punal(?:es)?",
    "machete",
    r"box ?cutter",
    "switchblade",
    "brass knuckles",
    r"bullets?",
    "ammo",
    "emo_pistol",
    "emo_hocho",
    r"pistolas?",
    r"(?<!quien )(?<!que )(?<!se )armas?(?: de fuego)?(?! (?:su|sus|la|el|los|las|un|una|mi|tu)\b)",
    r"cuchillos?",
    r"navajas?",
    r"escopetas?",
    # slang: strapped (not strapped into a seat, for cash or down), a strap (not a backpack's or a guitar's), a
    # blicky (not Blick, the art supplier), a shank (not lamb shanks nor a golf shot); fusca, un cuete (not
    # "tirando cuetes", firecrackers, nor "llego cuete", drunk), cuerno de chivo, filero
    r"(?:im|hes|shes|theyre|were|was|is|are|stay|staying|be|got) strapped"
    r"(?! (?:in (?:a |the |his |her |my |their )?(?:seat|car ?seat|harness|stroller|chair)|in for|into|"
    r"for (?:cash|money|time)|down|to|(?:(?:right now|rn|this month) )?(?:and|so) (?:\w+ )?(?:cant|couldnt))\b)",
    r"(?:came|comes|come) to school strapped|(?:walked in|been) strapped",
    r"(?:a|his|her|the|my|their|your) strap(?! (?:on (?:my|the|his|her|your|their|its) (?:backpack|bag|bookbag|guitar|"
    r"helmet|shoe|purse|case|"
    r"tank|top|dress|shirt|bra|swimsuit|bathing suit|sandals?|watch)|of|broke|ripped|came|snapped|"
    r"fell|slipped|was showing|for (?:his|her|my|the|a) (?:guitar|bag|camera|backpack|bass|"
    r"helmet))\b)",
    r"blick(?:y|ies)|(?:a|the|his|her|my) blicks?(?! (?:art|paint|markers?|supplies|catalog|order|store)\b)",
    r"(?:a|his|her|the|my|their|dads|brothers|cousins|uncles) shanks?(?! (?:of|steak|roast|bone|shot))\b",
    r"(?:pull|pulls|pulling|come|comes|coming|show|shows|showing) up strapped",
    r"fuscas?",
    r"(?<!prendio )(?<!prendieron )(?<!prender )(?<!tronaron )(?<!trono )(?<!aventaron )(?<!tiraron )(?<!tiro )"
    r"(?:un|el|la|su|mi) cuete(?![^.!?\n]{0,40}\b(?:alcohol|borracho|tomado|pedo|crudo)\b)",
    r"(?:trae|traia|tiene|lleva|anda con|andaba con) cuete",
    # "cuerno" alone is a horn, "los cuernos" cheating: a cuerno de chivo, "el cuerno de su tio", "trae el cuerno"
    r"cuerno de (?:chivo|(?:su|mi|tu) (?:tio|papa|apa|primo|hermano|jefe))",
    r"(?:trae|traer|lleva|llevar|tiene|saco|sacar) (?:el|un|su) cuerno(?! de (?:jamon|pan|queso|chocolate|crema))",
    r"fileros?",
    "balas",
)
# A toy or a tool is not a weapon; these only stop a rule from firing, the model still decides.
NOT_A_WEAPON = (
    _words(
        "nerf",
        r"toys?",
        r"water ?guns?",
        "squirt",
        r"finger ?guns?",
        r"pistolas? con (?:los|sus) dedos",
        r"glue gun",
        "staple gun",
        # "fake" here as well as among the settled words: a fake weapon stays no weapon even when the tip goes on
        # ("the fake drill ones for practice, just saying before somebody panics"), unless it turns to a new danger.
        r"fake(?! (?:account|acct|insta\w*|ig|snap\w*|page|profile|name|number|id)\b)"
        r"(?![^\n]{0,200}?\b(?:but|pero|this time|esta vez|now (?:he|she|they))\b)",
        "de juguete",
        r"(?<!botella )(?<!botellas )(?<!vaso )(?<!termo )de agua",
        r"pistolas? de (?:silicon|pegamento)",
        r"(?:culinary|cooking|foods?|facs|fcs|home ec|cocina) (?:class|lab)",
        r"forks?,? (?:and|&) knives|knives and forks|silverware|utensils|cubiertos",
        r"gun with (?:his|her|their|my) (?:fingers|hand)|(?:hand|fingers) (?:like|into|as) a gun",
        "butter knife",
        "plastic knife",
        "vape pen",
    )
    # ... unless the reporter says it is real after all ("he said its a nerf gun but its definitely real")
    + r"(?![^\n]{0,120}?\b(?:but|pero) (?:its|it is|es|it was) (?:\w+ )?(?:real|de verdad)\b)"
)
AT_SCHOOL = _words(
    "school",
    "campus",
    r"class(?:room)?",
    "hallway",
    r"halls?",
    "locker",
    "backpack",
    r"bag",
    "bus",
    "cafeteria",
    "lunch ?room",
    "bathroom",
    "restroom",
    "gym",
    "parking lot",
    r"\d+(?:st|nd|rd|th) period",
    "escuela",
    "colegio",
    "prepa",
    "secundaria",
    "clase",
    "salon",
    "pasillo",
    "mochila",
    "bano",
    "camion",
    "autobus",
    "patio",
    "estacionamiento",
)
NOW = _words(
    "right now",
    "just now",
    r"\d+ min(?:ute)?s? ago",
    r"hace (?:\d+|unos|un par de) minutos",
    "rn",
    "now",
    "currently",
    "at the moment",
    "as we speak",
    "today",
    "this morning",
    "ahorita",
    "ahora",
    "en este momento",
    "ahora mismo",
    "hoy",
)
# Within about a day, or a named day: the taxonomy's line between high and critical.
# Text-speak spellings of tonight and tomorrow, as students type them.
_TONIGHT_TOMORROW_TYPED = r"tonite|2nite|2night|tnite|tomorow|tomoro|tommorow|tommorrow|2morrow|2moro|2mrw|tmrw|tmr"
SOON = _words(
    "tonight",
    "today",
    "tomorrow",
    _TONIGHT_TOMORROW_TYPED,
    "right now",
    "rn",
    "now",
    "after school",
    r"this (?:weekend|afternoon|evening|morning|friday|monday)",
    "at lunch",
    r"after (?:practice|class|lunch|\d(?:st|nd|rd|th) period)",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    r"in an? (?:hour|few hours|minutes?)",
    r"\d{1,2}/\d{1,2}",
    r"\d{1,2}(?::\d\d)? ?(?:am|pm)",
    r"at \d{1,2}:\d\d",
    r"a las \d{1,2}(?::\d\d)?",
    "esta noche",
    "hoy",
    "manana",
    "ahorita",
    "ahora",
    r"este (?:fin|viernes|lunes)",
    "en la noche",
    "al rato",
    r"despues de (?:la )?(?:escuela|clases?)",
    "lunes",
    "martes",
    "miercoles",
    "jueves",
    "viernes",
    "sabado",
    "domingo",
)
# When a suicide would happen: a future time or "now"; "she said it this morning" is not a date.
SUICIDE_SOON = _words(
    "tonight",
    "tn",
    r"at midnight|a (?:la )?medianoche",
    r"today is the day",
    r"(?:kill|end|hang|shoot)(?:ing)? (?:my|him|her) ?sel(?:f|ves) (?:today|hoy)",
    r"(?:today|hoy) (?:she|he|i|se|me)\W+(?:\w+\W+){0,3}?(?:va a matar|voy a matar|gonna kill|going to kill)",
    "tomorrow",
    _TONIGHT_TOMORROW_TYPED,
    "right now",
    "rn",
    "after school",
    "this weekend",
    r"(?:by|on|this) (?:friday|monday)",
    r"when (?:her|his|my) (?:mom|dad|parents) (?:go|goes) to (?:sleep|bed)",
    r"after (?:her|his|my) (?:mom|dad|parents)",
    "esta noche",
    "manana",
    "al rato",
    "en la noche",
    "ahorita",
    "ahora mismo",
    "en este momento",
)
# An earlier day; "since yesterday" is not over ("hasn't woken up since yesterday", "no ha comido desde ayer").
# As a guard it is lifted by a clause that tells the danger in the present with no earlier day in it ("and right now
# he's unresponsive"), or by the weapon still being there ("he still has it"): see `_guards`.
PAST = _words(
    r"(?<!since )yesterday", r"(?<!since )last (?:week|month|year|semester)", r"(?<!desde )ayer",
    r"(?<!desde )la semana pasada", r"(?<!desde )el ano pasado",
)
# Words that put the danger in the present as the tip is written: an earlier day told beside them is history, not
# the danger ("he overdosed last week and right now he's unresponsive", "he showed me yesterday, it's in his
# backpack rn"). "Today" and "now" alone are not enough: "last week he brought a knife, now he's suspended".
STRONG_NOW = _words(
    "right now", "rn", "as we speak", "at this moment", "ahora mismo", "en este momento", "ahorita mismo"
)
SUICIDE_INTENT = _words(
    r"(?<!rather )kills? (?:my|him|her|them) ?sel(?:f|ves)(?! than\b)",
    # not "unalive urself", which is said to someone else (bullying)
    r"sewer ?slide",
    r"unalive (?:my|him|her|them) ?sel(?:f|ves)|unaliving|"
    r"(?:gonna|going to|wants? to|wanna|will) unalive(?! (?:this|that|the|my|ur|your) (?!self)\w)",
    r"(?:gonna|going to|wants? to|wanna|will|im|hes|shes) end(?:ing)? it"
    r"(?! (?:with|between|off|for (?:the|a|this|our))\b)",
    r"killing (?:my|him|her) ?self",
    "kms",
    r"(?<!run )(?<!running )(?<!ran )(?<!runs )suicid\w*"
    r"(?! (?:prevention|awareness|hotline|lifeline|squad|walk|training|"
    r"assembly|speaker|week|month|drills?|sprints?|runs?)\b)",
    r"shoot(?:ing)? (?:my|him|her) ?sel(?:f|ves)",
    r"(?:slit|cut|cutting|slitting) (?:my|his|her) wrists",
    r"cortar(?:se|me) las venas|(?:se|me) (?:va|voy) a cortar las venas",
    r"(?:se|me) (?:va|voy|iba) a dar un (?:tiro|balazo)|dar(?:se|me) un (?:tiro|balazo)",
    r"(?<!if i )(?<!if you )"
    r"(?:take|swallow|taking|swallowing) (?:all|a bunch|the whole bottle) (?:of )?(?:my|her|his|the|their) (?:\w+ )?"
    r"(?:pills|meds)",
    r"(?:gonna|going to|will|wants? to|finna|about to|bout to|gon) od",
    r"end (?:it all|my life|his life|her life|things(?! with))",
    r"ending (?:it all|my life|his life|her life)",
    r"take (?:my|his|her) (?:own )?life",
    r"(?:want|wants|wanted|wanna) to die",
    r"wish(?:es)? (?:i|he|she) (?:was|were) dead",
    "better off dead",
    r"hang (?:my|him|her) ?self",
    r"hanging (?:my|him|her) ?self",
    r"(?:gonna|going to|wants? to|will|wanna|threaten\w* to|about to) jump off|"
    r"jump(?:ing)? off (?:a|the|his|her) (?:bridge|roof|building|overpass|cliff|parking garage|balcony)",
    "matarme",
    "matarse",
    r"se (?:va|iba|quiere) a matar"
    r"(?! (?:estudiando|trabajando|entrenando|de (?:la )?(?:risa|hambre|sueno|cansancio))\b)",
    r"me (?:voy|quiero) a matar(?! (?:estudiando|trabajando|entrenando|de (?:la )?(?:risa|hambre|sueno|cansancio))\b)",
    r"(?:se|me) quier(?:e|o) matar",
    r"suicidar\w*",
    r"quitar(?:me|se) la vida",
    r"quier(?:o|e) morir(?:me|se)?(?! de (?:la )?(?:verguenza|pena|risa|hambre|sueno|aburrimiento|nervios)\b)",
    r"acabar con (?:todo|mi vida|su vida)",
    r"no quier(?:o|e) vivir",
    r"aventar(?:me|se)(?! (?:del|de la|al|a la) (?:resbaladilla|trampolin|columpio|tobogan|alberca|piscina|agua)|"
    r" a \w+(?:ar|er|ir)\b)",
    r"colgar(?:me|se)",
    r"(?:se|me) (?:va|voy|iba) a (?:colgar|ahorcar|aventar|tirar)"
    r"(?! (?:el|la|los|las|un|una|unos|unas|lo|a \w+(?:ar|er|ir)|al (?:agua|pasto|piso|sillon)|"
    r"a la (?:alberca|piscina|cama))\b)",
    r"ahorcar(?:me|se)",
    r"(?:se|me) (?:va|voy) a tomar todas (?:las|sus|mis) pastillas|"
    r"(?:se|me) (?:va|voy) a tomar (?:las|sus|mis) pastillas de (?:su|mi|la) (?:mama|papa|abuela|abuelita|abuelo|tia)",
    r"tirar(?:me|se) (?:del|de un|de su|de la)(?! (?:resbaladilla|trampolin|columpio|tobogan|alberca|piscina)\b)",
)
MEANS = _words(
    r"pills?",
    r"meds",
    "tylenol",
    "advil",
    "bottle",
    "rope",
    "noose",
    r"guns?",
    "razor",
    r"blades?",
    r"bridge(?! (?:team|club|game|tournament|project|building|design))",
    "overpass",
    "roof",
    r"(?:train )?tracks",
    "cliff",
    r"pastillas?",
    "cuerda",
    "soga",
    r"pistolas?",
    "arma",
    "navaja",
    "puente",
    "techo",
    "vias",
)
# A farewell word close behind: "if you're reading this" also opens ordinary tips.
_FAREWELL_SOON = r"\W+(?:\w+\W+){0,6}?(?:gone|dead|too late|no longer|not here|not alive|goodbye|bye|sorry)"
GOODBYE = _words(
    r"goodbye(?! (?:loser|bitch|freak|nerd|weirdo|idiot|party)\b)",
    "good bye",
    "bye forever",
    r"farewell(?! (?:party|assembly|lunch|breakfast|tour|concert|card|gift|celebration|game)\b)",
    "suicide note",
    r"(?:last|final) (?:message|text|post|note|letter)",
    r"giving away (?:all )?(?:his|her|my) (?:stuff|things|belongings)",
    r"(?:take care of my (?:dog|cat|sister|brother|mom)|take care of (?:her|his) (?:dog|cat))"
    r"(?![^.!?\n]{0,40}\b(?:while|this weekend|over (?:the )?break|"
    r"vacation|trip|for (?:the|a) (?:weekend|week|night))\b)",
    r"wont (?:have to )?(?:worry about (?:me|him|her)|see me|be seeing me)",
    r"wont (?:be around|be here)(?! (?:next|this|on|until|till|for (?:the|a|practice|class))\b)|wont need anything",
    r"the last time (?:youll|you will|u will|ull|anyone will|yall will) (?:hear from|see) me",
    r"(?:los|las) quiero (?:mucho )?a todos[^.!?\n]{0,40}ya no puedo mas",
    "to whoever finds me",
    r"if (?:youre|you are|ur|u r) reading this" + _FAREWELL_SOON,
    r"by the time (?:you|u) (?:read|see|get) this" + _FAREWELL_SOON,
    r"giving (?:all )?(?:his|her|my) (?:stuff|things|belongings) away",
    r"cuando (?:leas|lean) esto",
    "sorry for everything",
    r"se despid\w*",
    r"(?<!fiesta de )(?<!comida de )(?<!convivio de )(?<!misa de )despedida",
    r"despedir(?:se|me)",
    r"adios (?:a todos|para siempre)",
    r"carta (?:de despedida|suicida)",
    r"cuiden a mi(?! (?:hij[oa]s?|nin[oa]s?|bebe|sobrin[oa]s?|niet[oa]s?|alumn[oa]s?|estudiantes?)\b)",
    r"regalando (?:sus|mis) cosas",
    r"perdon por todo(?! (?:el|la|lo|los|las|esto|eso)\b)",
    r"ya no (?:me|lo|la|nos) (?:van|vas) a (?:ver|volver a ver)|no (?:me|lo|la|nos) (?:van|vas) a volver a ver",
    r"(?:hoy|manana) es (?:mi|su) ultimo dia(?! (?:de|del|en|antes|aqui)\b)",
    # not a favour for the weekend ("cuida a mi perro este fin de semana")
    r"cuid(?:a|en|ame|enme) a mi (?:gato|perro|hermanit[oa]|mama)"
    r"(?!(?: \w+){0,3} (?:fin de semana|mientras|manana|hoy)\b)",
    r"ya no (?:voy|va) a necesitar nada",
    # goodbyes said without the word, as held-out training writers' tips put them
    r"(?:say|saying|said|sayin|says) (?:bye|goodbye) to (?:everyone|everybody|someone|all of us|us all|yall|"
    r"all (?:his|her|of))",
    r"bye like (?:it was |its |it was gonna be )?forever",
    r"(?:something|things?|stuff) to remember (?:me|him|her) by",
    r"(?:playlist|songs?|plans?|list)(?: \w+){0,2} (?:for )?my funeral",
    r"(?:which|what) of (?:her|his|my) (?:stuff|things)(?: \w+){0,3} (?:they|we|you|u|people) want",
    r"who wants (?:my|her|his) (?:stuff|things)",
    r"(?:(?:last|final) (?:one|thing|post|message|text|time)|sorry|bye|im done|its been real|forever)"
    r"\W+(?:\w+\W+){0,6}?love (?:u|you) (?:all|guys|yall)(?!\W+(?:\w+\W+){0,3}?see (?:you|u|yall)\b)|"
    r"love (?:u|you) (?:all|guys|yall)(?!\W+(?:\w+\W+){0,3}?see (?:you|u|yall)\b)"
    r"\W+(?:\w+\W+){0,6}?(?:bye|goodbye|forever|sorry|its been real)",
)
# Pills or other means saved up: a plan, even with no word of dying ("ive decided. saturday. i have my grandpas
# pills saved up", "stockpiling his pills in an Altoids tin", "esta juntando sus pastillas").
MEANS_SAVED_UP = (
    r"\b(?:saved|saving|stockpil\w*|hoard\w*|collect(?:ed|ing)|juntando|ahorrando|juntaba|"
    r"junt(?:o|e|aron) (?:las|sus|mis))"
    r"\b(?: up)?(?: (?!for\b|to\b|money\b)\w+){0,3} "
    r"(?:pills|meds|medications?|pastillas|medicinas|medicamentos|antidepressants|sleeping pills|painkillers)\b"
    r"(?! (?:forms?|slips?|drive|take ?-?back|permission|log|for (?:the|a) (?:drive|nurse|take ?-?back))\b)|"
    r"\b(?:pills|meds|pastillas|medicinas) (?:\w+ ){0,2}(?:saved up|stockpiled|guardadas|juntadas)\b|"
    # pills counted out ("she's counting them out tonight"), not into a pill organizer
    r"\b(?:pills|meds|antidepressants|pastillas)\b[^\n]{0,120}"
    r"\bcount(?:ing|ed|s)? (?:them|those|the pills|\w+ pills) out\b"
    r"(?![^.!?\n]{0,40}\b(?:organi[sz]er|pill ?box|pharmacy|nurse)\b)|"
    r"\bcount(?:ing|ed|s)? (?:out )?(?:\w+ ){0,3}(?:pills|meds) into (?:a|her|his|my|their)\b"
    r"(?! (?:\w+ )?(?:pill ?(?:organi[sz]er|box|case)|organi[sz]er|weekly|daily|days? of the week)\b)"
)
# A whole bottle of a drink or a sauce is no overdose ("took a whole bottle of hot sauce on a dare").
_HARMLESS_BOTTLE = (
    r"(?! of (?:water|soda|juice|gatorade|powerade|sprite|milk|coke|pop|tea|hot sauce|sauce|ketchup|ranch|mustard|"
    r"sriracha|dressing|shampoo|lotion|perfume|glue|sunscreen|syrup|energy drink)\b)"
)
OVERDOSE_OR_UNRESPONSIVE = _words(
    r"(?<!died of an )(?<!died from an )(?<!died of )(?<!died from )(?<!training for )(?<!narcan for )overdos\w*"
    r"(?! (?:prevention|awareness|training)\b)",
    r"(?:not|isnt|wont|is not|stopped) respond(?:ing)?(?! to\b)",
    # "no responde" is also "doesn't answer": after a body or a drug, or "ya no responde", not to messages
    r"(?:(?:pastillas|tirad[oa]|vomitando|desmayad[oa]|morad[oa]|tomo|respira\w*|piso|suelo)[^.!?\n]{0,60}\b|ya )"
    r"no responde(?! (?:los|mis|sus|el|a|al|mensajes|llamadas|whatsapp|telefono)\b)",
    r"took (?:like |about |maybe )?(?:\d+|a bunch|a lot|too many|all) (?:of )?"
    r"(?:\w+ ){0,3}(?:pills|meds|xanax|percs|bars|antidepressants)"
    r"\W+(?:\w+\W+){0,6}?(?:passed out|not breathing|wont wake|cant wake|not waking|unresponsive|out of it|slurring|"
    r"throwing up|vomiting|"
    r"cant stay awake|barely (?:awake|breathing))",
    r"se tomo (?:un monton de|muchas|como \d+|\d+|un chingo de|todas (?:sus|las)) pastillas",
    r"took (?:a |the )?(?:whole|entire) bottle" + _HARMLESS_BOTTLE,
    r"took (?:a bunch of|too many|a lot of|all (?:of )?(?:her|his|the|my)) (?:pills|meds)",
    r"unresponsive(?! to\b)",
    "not breathing",
    r"(?:wont|cant|will not|doesnt) wake (?:up|him|her)"
    r"(?! (?:for|in time|on time|in the morning|early|before|anymore|most mornings|these days|without)\b)",
    r"(?:hasnt|has not) (?:woken|woke) up "
    r"(?:since|and|even|for (?:\d+|a|an|two|three|hours?|days?|over|like|almost|more))\b",
    # "can't get her to wake up", not "to wake up for school"
    r"(?:cant|cannot|can not|couldnt) get (?:him|her|them|my \w+|\w+) to wake up"
    r"(?! (?:for|in time|on time|in the morning|early|before|at (?!all\b)|anymore|most mornings|without)\b)",
    r"no se (?:ha )?despert(?:ado|a)",
    "blue lips",
    r"lips (?:\w+ ){0,3}(?:blue|purple|gray|grey)(?! (?:from|after) (?:the|a|eating|drinking|that|his|her|a)\b)"
    r"(?![^.!?\n]{0,40}\b(?:pool|lake|swim\w*|cold|freezing|snow|popsicle|slushie|icee|candy|marker|lipstick|makeup|"
    r"costume|paint)\b)",
    r"(?<!about )(?<!of )(?<!about him )(?<!about her )(?:not|isnt|is not) waking up"
    r"(?! (?:in time|on time|early|for|to|at|until|till|before|with)\b)",
    r"still (?:hasnt|has not) (?:woken|woke) up",
    r"swallowed (?:a |the |her |his )?(?:whole|entire) bottle" + _HARMLESS_BOTTLE,
    "sobredosis",
    "no respira",
    r"no despierta(?! (?:temprano|a tiempo|para|en la manana|solo)\b)",
    r"(?<!un )(?<!una )(?<!es )(?<!son )inconsciente",
    r"no (?:lo|la|le) (?:podemos|puedo|pueden|puede) despertar(?! (?:para|a tiempo|temprano|en la manana)\b)",
    # not a coach or a parent "foaming at the mouth" at a call
    r"(?:espuma|foam\w*) (?:de|en|por|at|from) (?:la|the) (?:boca|mouth)"
    r"(?![^.!?\n]{0,60}\b(?:yell\w*|scream\w*|mad|angry|furious|rage|rant\w*|refs?|referee|call|about|over)\b)",
    r"(?:se|me) tomo (?:todas )?las pastillas",
    r"ya (?:me )?tome las pastillas",
    r"se tomo (?:un|una|el|la) (?:bote|frasco|caja)",
)
# What lights up or airs out a school when nobody is attacking it: a holiday, a prank, a game, a cheer.
_FESTIVE = (
    r"lights|christmas|holidays?|prank|toilet paper|band|decorat\w*|colou?rs|pride|candles|spirit|kindness|chants?|"
    r"cheers?|music|songs?|smiles?|love|energy|dance|game|scoreboard|defense|offense|football|basketball|homecoming|"
    r"points|court|field"
)
ATTACK = (
    r"\b(?:shoot(?:ing)? (?:up|everyone|people|the school(?! (?:video|photos?|pics?|pictures?|play|musical))|"
    r"(?:us|them)(?! (?:a|an) (?:email|text|message|dm|snap|line|note|pic|reminder|call)\b))|"
    # a shooting in the news or a history lesson is not a threat
    r"(?<!about the )(?<!after the )(?<!since the )(?<!of the )school shooting(?! (?:in|on) the news|drill)|"
    r"hit ?list|kill ?list|"
    r"(?:everyone|everybody|all of (?:you|them|us)|yall)(?: \w+){0,4} (?:is|are) (?:gonna|going to) die|"
    r"(?:tirar|dar|echar) balazos|"
    r"(?:coming|come|going|headed) (?:back )?(?:to (?:the )?school )?"
    r"with (?:a|his|her) (?:gun|knife|rifle|pistol|weapon)|"
    r"(?:get|getting|grab|grabbing) (?:his|her|a|their) (?:gun|rifle|pistol|knife)\W+(?:\w+\W+){0,3}?"
    r"(?:come|coming) back|"
    r"wants? (?:them|him|her|you|u|us|everyone|everybody|all of (?:them|us|you)|those (?:kids|boys|girls|guys|dudes|"
    r"people|teachers|students|freshmen|seniors|juniors|sophomores|preps|jocks|bullies))(?: \w+){0,3} dead\b"
    r"(?! (?:silent|quiet|serious|tired|last|center|set|ass|end|weight|wrong|even)\b)|"
    r"(?:list|names) of [^.!?\n]{0,40}\bwants? dead\b|"
    # killing oneself and others ("kill himself and take some people at school with him")
    r"(?:kill|shoot|end) (?:him|her|my|them) ?sel(?:f|ves)\W+(?:\w+\W+){0,3}?take (?:some|a few|others|people|everyone|"
    r"us|them|you)(?: \w+){0,4} with (?:him|her|me|them)\b|llevarse a (?:otros|varios|todos|mas|unos)(?: \w+){0,3} "
    r"con (?:el|ella)|"
    r"(?<!bath )(?<!photo )(?<!stink )(?<!smoke )(?<!glitter )(?<!f )(?<!seed )bombs?\b(?! emoji)|blow up the school|"
    r"(?<!boston )massacre(?! (?:quiz|test|project|essay))|"
    r"(?<!reading about )(?<!studying )(?<!learning about )(?<!lesson on )columbine|"
    r"(?:gonna|going to|gunna|will|finna|plans? to|planning to|wants? to|about to|threaten\w* to) "
    r"(?:shoot|stab|shank|kill|murder|bomb|attack|blow up)\b(?! (?:me|it|myself|himself|herself|themselves|yourself|"
    r"(?:my|his|her|your|their|our) shot|"
    r"us (?:with|at|in) (?:this |that |the )?(?:\w+ )?(?:test|quiz|exam|final|workout|project|sprints|drills|"
    r"conditioning|laps|practice|homework)|time|"
    r"(?:hoops|baskets|free throws|threes|(?:the|some) (?:ball|breeze)|around|pool)|"
    r"(?:the |a |some )?(?:senior |class |team )?(?:portraits?|headshots?|tiktoks?|scenes?)|"
    r"(?:us|them) (?:a|an) \w+|"
    r"(?:the |a )?(?:school )?(?:video|photos?|pics?|pictures?|film))\b)|"
    r"(?:bring|bringing) (?:a |his |her |the |their |my )?(?:dads |moms )?"
    r"(?:gun|knife|weapon|pistol|rifle|glock|strap(?! for)|ar ?-?15|ar(?! project)|blicky)\b"
    r"(?![^.!?\n]{0,30}\b(?:cake|pumpkin|carv\w*|cooking|culinary|food|fruit|pastel)\b)|"
    r"disparar|balacear|balacera|"
    r"(?<!estudiando el )(?<!sobre el )tiroteo(?! (?:de|en) (?:uvalde|parkland|texas|florida))|"
    r"apunalar|bomba(?! de (?:agua|aire|gasolina|humo|semilla))|lista negra|"
    # slang, with a person as the target ("air them out", not "air out the gym")
    r"(?:le|les|te|nos) (?:van|va|vamos) a dar (?:piso|cuello)|"
    r"(?:cuchillo|navaja|filero|punta)[^.!?\n]{0,60}\b(?:lo|la|le|los|las|les) (?:van|va|voy) a picar|"
    r"(?:lo|la|le|los|las|les) (?:van|va|voy) a picar[^.!?\n]{0,40}\b(?:cuchillo|navaja|filero|punta)|"
    r"air (?:him|her|them|everyone|everybody|us|you|u) out(?! (?:with|between|together|and talk)\b)|"
    # "air out the school", "light the school up": not to freshen a room or to decorate it
    r"(?:air out|light up) (?:the |this |da )?(?:school|assembly|pep rally|cafeteria|lunch ?room)\b"
    r"(?![^.!?\n]{0,60}\b(?:smell\w*|stink\w*|odou?r|fumes|paint|mold|" + _FESTIVE + r")\b)|"
    r"light (?:the |this |da )?(?:school|assembly|pep rally|cafeteria|lunch ?room|him|her|them|everyone|everybody) up"
    r"(?![^.!?\n]{0,60}\b(?:" + _FESTIVE + r"|laser tag|paintball|airsoft|nerf|water balloons?|tp)\b)|"
    r"(?:pull|pulls|pulling|come|comes|coming|show|shows|showing) up strapped|"
    # murder-suicide, in another order ("take people with him before he kills himself", "kill them and then himself")
    r"take (?:some|a few|others|people|everyone|us|as many)(?: \w+){0,4} (?:with (?:him|her)|out)\W+(?:\w+\W+){0,4}?"
    r"(?:kills?|shoots?|ends?) (?:him|her)sel(?:f|ves)|"
    r"kill (?:them|everyone|everybody|people|us|some \w+)(?: \w+){0,3} (?:and|then) (?:then )?(?:him|her)self|"
    r"(?:gonna|finna|going to|bout to|about to|will) (?:slide on (?:him|her|them|us|you|u|the opps|opps)|"
    r"smoke (?:him|her|them|u|you|(?:that|this|dat|the) (?:boy|kid|dude|guy|girl|opp|fool))"
    r"(?![^.!?\n]{0,40}\b(?:cigs?|cigarettes?|blunts?|joints?|weed|pot|bowl|hookah|pack|race|meet|"
    r"\d+ ?m|mile|relay|game|fortnite|madden|2k|1v1|chess|court|track|ranked)\b)|"
    r"poke (?:him|her|them|u|you) up|run up on (?:him|her|them|us|you|u))\b|"
    r"(?<!me )(?<!se )(?<!te )(?<!nos )(?:va|van|voy) a (?:matar|atacar)|"
    r"para matar(?:lo|la|los|las|te)\b(?! de (?:risa|hambre|aburrimiento))|"
    r"(?:llevar|traer) (?:la|una|su|el|un) (?:pistola|arma|fusca|cuete|cuerno|escopeta|rifle)\b)"
)
# Someone at a height or on the edge as the tip is written ("esta en el techo de su casa gritando que se va a
# tirar", "she's on the bridge by the river and says she'll jump").
ON_THE_EDGE = _words(
    r"(?:esta|estan|anda|is|hes|shes|are|theyre|standing|sitting|climbed|climbing) (?:arriba |up )?"
    r"(?:en|on|at|sobre|in|on top of|onto) (?:el |la |the |a |su |his |her )?(?:techo|azotea|puente|barandal|roof|"
    r"rooftop|bridge|ledge|railing|overpass|edge of (?:the|a) (?:roof|bridge|building|cliff|overpass|parking garage))"
    r"(?! (?:team|club|game|tournament|crew|practice)\b)",
)
# Jumping, not into a pool or at a chance ("climbed on the roof of the shed to jump into the pool").
JUMP = _words(
    r"jump(?:ing)?(?! (?:(?:in|into|onto|on) (?:the|a) (?:pool|water|lake|snow|trampoline|pile|leaves|hay|foam pit)|"
    r"at the (?:chance|opportunity)|rope|in line|ship|the gun|to conclusions|on the bandwagon|on it|start)\b)",
    r"(?:tirar|aventar)(?:me|se)?",
    r"(?:se|me) (?:va|voy) a (?:tirar|aventar)",
)
# An attempt happening as the tip is written.
HANGING_NOW = _words(
    r"(?:she|he|shes|hes|she is|he is|she was|he was) hanging (?:from|off) (?:\w+ ){0,2}"
    r"(?:rope|belt|tree|ceiling|fan|closet|door|shower|rod|beam|rafter|railing|banister|noose|sheet|cord|bunk|bed)s?",
    r"(?<!about )(?<!of )hanging (?:herself|himself|themselves|themself)",
    r"(?:found|find|see|saw) (?:her|him|them) hanging(?! (?:out|around|with|by|at|near|behind)\b)",
    "se esta ahorcando",
    r"se esta colgando (?:de|del|con)",
    r"(?:esta|estaba) colgad[oa] (?:de|del) (?:\w+ ){0,2}"
    r"(?:cuerda|soga|viga|arbol|cinturon|puerta|techo|regadera|closet|ropero|barandal|ventilador)",
)
# Someone on the way to hurt a person, as the tip is written: an angry parent driving to the school "to make
# that teacher pay", a group heading to the park "to jump him". Schools lock the doors for this. The person
# hurt must be named as a person ("to beat my mom", not "to beat Kelly Walsh", "the traffic" or "me at madden";
# "to shoot everyone", not "hoops" or "senior pictures"), in the same clause, and not in a story ("was on his
# way", "last friday they headed"), a figure of speech ("shes going to kill me when she sees my grades") or a
# reason given for something else ("on her way to the nurse because some girls tried to hurt her").
_PERSON = (
    r"(?:me|him|her|them|us|you|u|everyone|everybody|people|someone|somebody|(?:ms|mr|mrs)\.? \w+|"
    r"(?:my|his|her|their|our|your|that|this|the|a|some) (?:\w+ )?(?:teacher|coach|principal|kid|boy|girl|"
    r"student|freshman|sophomore|junior|senior|brother|sister|mom|dad|mother|father|ex|boyfriend|girlfriend|"
    r"friend|cousin|son|daughter|wife|husband|family|class|guy)s?)\b"
)
_ON_THE_WAY = (
    r"(?<!was )(?<!were )(?<!already )(?<!iba )(?<!iban )(?<!estaba )"
    r"\b(?:on (?:his|her|their|my|our|the) way(?! out\b)|omw|otw|heading (?:over|here|back|(?=to\b))|"
    r"(?:is|are|hes|shes|theyre|just) headed (?:over|here|back|(?=to\b))|coming (?:over|here|back|(?=to\b))|"
    r"driving (?:over|here|(?=to\b))|en camino|vienen? (?:para aca|para aqui|pa aca|paca|a la escuela)|"
    r"ya vienen?|van? (?:para|hacia) (?:el|la|al|su))\b"
)
_SAME_CLAUSE = (
    r"(?:(?!\b(?:because|bc|cuz|tried|trying|scared|afraid|yesterday|last|porque|tomorrow|tmrw|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday)\b)[^.!?\n]){0,60}?"
)
_TO_HURT = (
    r"(?:(?<!going )(?<!gonna )\bto (?:(?:hurt|kill|stab|attack) " + _PERSON + r"|"
    r"shoot (?:up\b|" + _PERSON + r"(?! (?:a|an) (?:text|message|dm|snap|email|pic)\b))|"
    r"jump (?!(?:\w+ )?(?:car|truck|battery|fence|line|stairs|rope)\b)" + _PERSON + r"|"
    r"beat (?:" + _PERSON + r"(?! (?:team|squad|at|in|to|on)\b)|the (?:shit|crap|hell) out of)|"
    r"get (?:revenge on|back at) " + _PERSON + r"|"
    r"make (?:him|her|them|that \w+|the \w+) pay(?! for (?:the|a|an|my|his|her|their|our)\b))|"
    r"\b(?:a|para) (?:(?:matar|golpear)(?:me|te|lo|la|le|nos|los|las|les)\b|(?:matar|golpear) a\b|"
    r"lastimar\w*|pegarles?\b(?! (?:los|las|el|la|un|una)\b)|balacear\w*|disparar\w*|apunalar\w*|"
    r"acuchillar\w*|partirle la madre))"
)
COMING_TO_HARM = _ON_THE_WAY + _SAME_CLAUSE + _TO_HURT
# ... or on the way with a weapon ("he's coming to the school with a gun", "going back to get his gun").
COMING_ARMED = "(?:" + (
    r"\b(?:coming|headed|heading|on (?:his|her|their) way|driving) (?:back )?(?:to (?:the )?(?:school|campus) |here )?"
    r"with (?:a|his|her|their|the) (?:\w+s )?(?:gun|knife|rifle|pistol|shotgun|weapon|glock)s?\b|"
    r"\b(?:viene|va|vienen|van) (?:para|a|hacia) (?:la|el) (?:escuela|colegio|prepa|secundaria) "
    r"con (?:una|un|su|la|el) "
    r"(?:pistola|arma|cuchillo|navaja|rifle|escopeta|fusca)\b|"
    r"\bgoing (?:back )?(?:home )?to get (?:his|her|their|a) (?:gun|rifle|pistol|shotgun|knife)s?\b|"
    r"\b(?:va|viene) en camino (?:a|para) (?:la|el) \w+ con (?:una|un|su|la|el) (?:pistola|arma|cuchillo|navaja|rifle)|"
    r"\b(?:go|went|left to go|going to) get (?:his|her) (?:\w+s )?(?:gun|rifle|pistol)[^.!?\n]{0,40}\bcoming back"
) + r")(?![^.!?\n]{0,40}\b(?:hunting|hunt|range|safety|cleaning|culinary|cooking|class|final)\b)"
# Attack planning with no alarming word: a map or plan of the school marked up as targets ("drew the school map
# with x's on certain classrooms", "un mapa de la escuela con equis en los salones"). Threat assessors treat it
# as a plan; with a near time or a countdown ("one more day") as an attack about to happen.
ATTACK_MAP = _words(
    r"(?:maps?|floor ?plans?|plans?|layouts?|diagrams?|blueprints?|sketch(?:es)?|pic|picture|photo|screenshot|drawing|"
    r"mapas?|planos?|croquis|dibujo|foto)(?: \w+){0,3} (?:of|de|del) "
    r"(?:the |our |this |da |la |el |nuestra |nuestro |esta |mi )?(?:\w+ ){0,3}"
    r"(?:school|skool|skl|campus|bldg|prepa|colegio|building|classrooms?|hallways?|halls|"
    r"cafeteria|gym|escuela|edificio|salones|pasillos)",
    r"(?:school|schools|skool|building|bldg|campus|escuela|edificio)(?:s)? "
    r"(?:map|floor ?plan|layout|diagram|blueprint)s?",
    r"(?:mapa|plano|croquis|dibujo) (?:de la|del) (?:escuela|edificio|colegio|prepa|secundaria|gimnasio|pasillos?)",
    r"(?:drew|drawn|drawing|draws|sketched|sketching|mapped|mapping|dibujo|dibujado|dibujando) (?:out )?(?:all )?"
    r"(?:of )?(?:the |our |a |la |el |los )?(?:whole )?"
    r"(?:school|building|hallways|halls|escuela|edificio|salones|pasillos)",
    r"(?:our|the) (?:school|building) (?:drawn|sketched|mapped) out",
    r"(?:maps?|floor ?plans?|layout|diagram|blueprints?|mapa|plano)\b[^.!?\n]{0,40}\b(?:rooms?|classrooms?|lab|"
    r"cafeteria|lunch ?room|gym|library|office|hallways?|bleachers|salon(?:es)?|pasillos?|gimnasio|biblioteca|oficina)",
)
# Marks that show where, not whom: a tour or a drill map has them too.
MAP_MARKED = _words(
    r"marked",
    r"marking",
    r"circled",
    r"circles? (?:on|around)",
    r"marcad[oa]s?",
    r"marco (?:con|los|las|el|la|en)",
    r"circul\w+",
    r"shaded",
    r"highlighted",
    r"numbered",
    r"arrows?",
    r"resaltad\w+",
    r"flechas",
    r"(?:red )?dots? on",
    r"colou?red in",
    r"labell?ed",
    r"starred",
    r"(?:times|room numbers) (?:written|next to|on)",
)
# Marks that name targets: only these, or a countdown, make a map with a time critical.
MAP_TARGETED = _words(
    r"xs",
    r"xes",
    r"(?:an? )?x (?:on|over|through|en)",
    r"equis en",
    r"x marks? on",
    r"crossed (?:out|off)",
    r"targets?",
    r"equis",
    r"tachad\w+",
    r"names? (?:in|inside|on|written)",
    r"nombres (?:de|en)",
    r"skulls?",
    r"emo_skull\w*",
    r"cruces",
    r"x ?-?(?:d|ed) (?:out|off)",
    r"red (?:circles?|dots?|marks?|xs)",
    r"colou?red (?:in )?red",
    r"puntos? rojos?",
)
_ANY_MARK = MAP_MARKED + "|" + MAP_TARGETED
COUNTDOWN = _words(
    r"(?:\d+|one|two|three|four|five) (?:more )?days? (?:left|to go|more)",
    r"count(?:ing)? ?down",
    r"un dia mas",
    r"cuenta regresiva",
    r"falta(?:n)? (?:un|una|\d+|dos|tres) dias?",
    r"soon (?:yall|you all|u all|everyone|you|u) (?:will|gonna|are gonna)",
    r"less than (?:24|a day)",
    r"(?:after|despues de) (?:tonight|hoy)",
    r"(?:\d+|one|two|three|four|five) more days?",
    r"in (?:\d+|two|three|four|five|a couple(?: of)?|a few) days",
    r"en (?:\d+|dos|tres|cuatro|cinco|unos) dias",
    r"(?:is|es) (?:the|el) (?:day|dia)",
    r"pronto",
    r"ya casi",
)
# ... unless the map is an ordinary one: a game, a drill, a class project, a scavenger hunt.
_MAP_MENACE = (
    r"(?<![\s\S])(?![\s\S]*(?:"
    + _words(
        r"hide|hiding|lockdown|where (?:the )?(?:most )?(?:kids|students|people)|cameras?|unlocked|sro|cops?|police",
        r"see you",
    )
    + "|"
    + COUNTDOWN
    + r"))[\s\S]*?"
)
MAP_ORDINARY = _MAP_MENACE + _words(
    r"scavenger",
    r"treasure",
    r"fire ?drill",
    r"evacuation (?:drill|route|plan)s?",
    r"(?:for|para) (?:a|an|the|his|her|my|our|un|una|el|la|su|mi) (?:\w+ )?"
    r"(?:project|assignment|homework|proyecto|tarea)",
    r"geography",
    r"art class",
    r"minecraft|fortnite|roblox|video ?games?|game map|dnd|d ?n ?d|dungeons",
    r"seating chart",
    r"(?:for|help|helping|show|showing) (?:a |the |our )?new (?:student|kid)s?",
    r"first day (?:of (?:school|class)|is|back)",
    r"(?:class )?schedule",
    r"fundraiser",
    r"bus route",
    r"simulacro",
    r"(?:para|de) (?:un|el) juego",
    r"busqueda del tesoro",
    r"egg hunt",
    r"tesoro",
    r"recaudacion",
    r"carrera",
    r"(?:race|tag|board|card) game",
    r"for (?:a|the) game",
    r"open house",
    r"pto|parent teacher",
    r"(?:at|for|from) (?:the )?(?:freshman |new student )?orientation",
    r"back to school night",
    r"(?:school|district|official) website",
    r"vap(?:e|es|ing)\b",
    r"senior assassin",
    r"land nav\w*|orienteering|checkpoints?",
    r"construction",
    r"construccion",
)
# "Don't come to school Friday": the warning that comes before many attacks.
STAY_AWAY_WARNING = _words(
    r"(?<!\bi )(?<!\bwe )(?<!\bthey )(?<!\bhim )(?<!\bher )(?:not to|to not|dont|do not|better not) "
    r"(?:come|go|be|show up) (?:to|at) (?:school|skool|skl)",
    r"(?:you|u|yall|everyone|anyone|people|nobody|we) (?:shouldnt|should not) (?:come|go|be) (?:to|at) "
    r"(?:school|skool)",
    r"(?<!wants to )(?<!want to )(?<!begs to )(?<!begged to )(?<!asked to )(?<!let him )(?<!let her )"
    r"(?<!will )(?<!gonna )(?<!going to )(?:stay|keep) (?:away from|home from|out of) (?:the )?(?:school|skool)",
    r"no (?:vengas|vayas|vengan|vayan|venga|vayamos|vengamos)(?: \w+)? (?:a la escuela|al colegio|a clases?)",
    r"(?<!prefiero que )(?<!mejor que )no vaya(?: \w+)? (?:a la escuela|al colegio|a clases?)",
)
# ... unless the reason given is ordinary: weather, a closure, illness.
STAY_AWAY_ORDINARY = _words(
    r"snow(?:s|ed|ing|storm)?",
    "snow day",
    "blizzard",
    r"(?:school|schools|it|classes) (?:is|are|was|will be) (?:closed|canceled|cancelled)",
    "school closure",
    r"(?<!will be )(?<!gonna be )no school (?:tomorrow|today|on|this|monday|tuesday|wednesday|thursday|friday)",
    r"(?<!take a )(?<!take the )(?<!taking the )(?<!taking a )day off",
    r"(?:is|im|i am|hes|shes|was|got|gets|getting|feel|feels|feeling|been|home|still) (?:really |so |very |super )?"
    r"sick(?! of| and tired| in the head)",
    r"doctor|concussion|surgery|appointment|dentist|funeral",
    r"ice storm|icy|(?:winter |snow |ice )?storm|weather|power outage|flood\w*",
    r"cita|medico|dentista|inundacion|lluvia|tormenta|helada|sin luz|dice la directora|le dije",
    "flu",
    "fever",
    "covid",
    r"(?:for|its|its a|is a|over) (?:the )?(?:holiday|vacation)",
    "skip day",
    "ditch day",
    "teacher workday",
    r"(?:suspended|expelled)\b[^.!?\n]{0,80}\bnot to (?:come|go)",
    "nieve",
    r"(?:la escuela|las escuelas) (?:esta|estan|va a estar) cerrada",
    r"no (?:hay|habra) clases",
    r"suspen\w* (?:de )?(?:las )?clases",
    "paro de maestros",
    "huelga",
    "consejo tecnico",
    r"(?:esta|estoy|estan|estaba|anda|se puso) (?:muy )?enferm[oa]s?(?! de la cabeza| mental)",
    "vacaciones",
)
HOME_FEAR = _words(
    r"(?:afraid|scared|terrified) (?:to|of) go(?:ing)? (?:back )?home",
    r"cant go home(?![^.!?\n]{0,40}\b(?:works? late|at work|no key|locked out|no ride|can i stay)\b)",
    r"(?:dont|do not) want to go (?:back )?home",
    r"miedo (?:de )?(?:ir|regresar|volver|llegar) a (?:mi |la |su )?casa",
    r"no quier(?:o|e) (?:ir|regresar|volver) a (?:mi |su )?casa",
)
# A child who goes home today to someone who hurts them ("his stepdad does it when he's drunk... picks him up at
# 3:30", "su papa le va a pegar con el cinto cuando vea la boleta que les dieron hoy").
GOING_HOME = _words(
    r"(?:when|after|once) (?:he|she|they|i) (?:gets?|goes|go) (?:back )?home",
    r"(?:picks?|picking) (?:him|her|them) up",
    r"(?:bus|ride) home",
    r"when (?:his|her|their) (?:dad|mom|stepdad|stepmom|father|mother|parents?) (?:sees?|finds? out|gets? home)",
    r"(?:report cards?) (?:went|go|come|came)",
    r"cuando (?:llegue|regrese|vuelva) a (?:la |su |mi )?casa",
    r"cuando (?:lo|la|los|las) recoja",
    r"cuando (?:su|el|la) (?:papa|mama|padrastro|madrastra) (?:vea|se entere|llegue)",
    r"(?:when|once) (?:he|she|they) (?:sees?|finds? out|gets?) (?:the|her|his|their|my) (?:report cards?|grades)",
    r"cuando (?:vea|vean|se entere|se enteren) (?:de )?(?:la|las|su|sus) (?:boleta|calificaciones|notas)",
)
SEXUAL_ASSAULT = _words(
    r"raped?",
    "rapist",
    r"sexually assault\w*",
    "sexual assault",
    r"molest(?:ed|ing|er|ers|s)",
    r"touched (?:me|her|him) (?:inappropriately|down there)",
    r"forced (?:me|her|him) to (?:have sex|do stuff)",
    r"violo",
    r"violada",
    r"violacion",
    "abuso sexual",
    r"abuso de (?:mi|ella)",
)
ADULT_HURTS = (
    r"\b(?:dad|father|mom|mother|stepdad|stepmom|step dad|uncle|parents?|boyfriend|coach|papa|mama|padrastro|tio)\b"
    r"(?:(?!\b(?:a boy|a girl|some (?:kids?|boys?|girls?)|another (?:kid|student|boy|girl)|someone|somebody)\b).){0,40}"
    r"\b(?:hits?|beats?|punch(?:es|ed)|chok(?:es|ed)|burn(?:s|ed)|whips?|slapp?(?:s|ed)|pega|golpea)\b"
)
HURT_AT_HOME = (
    ADULT_HURTS
    + "|"
    + _words(
        r"(?:will|gonna|going to|is going to) (?:hit|beat|hurt|whip|kill|burn)",
        r"(?:va|van) a (?:pegar|golpear|matar|quemar)",
        r"(?:use|uses|with|get|gets|whip\w*) (?:the|a|his|her) belt",
        r"(?:pegar|pega|golpear)(?:le|les)? con el cinto",
        r"next time (?:its|it is|he|she|ill|i will) ",
    )
)
# Self-harm, and as the tip is written ("she is cutting herself right now"): critical with the present. The
# words alone are not a floor: "self-harm awareness", "ganas de cortarse" and healed scars are in many calm tips.
SELF_HARM = _words(
    r"cut(?:s|ting)? (?:my|him|her|them) ?sel(?:f|ves)",
    r"self ?-?harm\w*",
    r"burn(?:s|ing)? (?:my|him|her) ?self",
    r"cuts on (?:her|his|my) (?:arms?|wrists?|legs?|thighs?)",
    r"se (?:esta )?cort(?:a|ando)",
    r"cortar(?:se|me)",
    r"autolesion\w*",
    r"cutting (?:her|his|my) (?:arms?|wrists?|legs?|thighs?|stomach)|cutting (?:rn|right now)",
    r"(?:shes|hes|im|is|are|theyre) cutting"
    r"(?! (?:class|school|hair|paper|the|a|his|her|my|onions?|cake|grass|wood|up|out|"
    r"back|it|them|in line)\b)",
)
# ... told with "right now" in the same clause, not "she used to cut herself, right now she is doing better".
_HARM_NOW_WORDS = STRONG_NOW + "|" + _words("ahorita")
SELF_HARM_NOW = (
    "(?:" + SELF_HARM + r")[^.!?\n,;]{0,40}(?:" + _HARM_NOW_WORDS + ")|"
    "(?:" + _HARM_NOW_WORDS + r")[^.!?\n,;]{0,40}(?:" + SELF_HARM + ")"
)
# A person who cannot breathe, not "you cant breathe in there" for the vape smoke.
_CANT_BREATHE = r"(?<!you )cant breathe(?! in (?:there|here)\b)"
# Someone is hurt or being hurt as the tip is written.
INJURED_NOW = _words(
    r"(?:wont|cant|doesnt|isnt) (?:stop|stopping) bleeding",
    "bleeding a lot",
    "lots of blood",
    r"(?<!line was )(?<!line is )(?<!traffic is )(?<!traffic was )(?<!bus was )(?<!bus is )(?<!line )not moving",
    r"(?:wont|isnt|not) getting up(?! (?:for|in the morning|on time|early|out of bed)\b)",
    r"wont get up(?! (?:for|in the morning|on time|early|out of bed)\b)",
    r"unconscious(?! bias)",
    r"(?:having|is having|just had|had) a seizure|seizing|"
    r"seizure(?! (?:disorder|plan|action plan|meds?|medication|history|dog|"
    r"alert)\b)",
    _CANT_BREATHE,
    r"just (?:got|been) (?:stabbed|shot)",
    r"no (?:para|deja) de sangrar",
    r"(?:ya )?no se (?:levanta|mueve)(?! (?:para|temprano|a tiempo|en la manana|de la cama)\b)",
    "no puede respirar",
    "mucha sangre",
)
VIOLENCE_IN_PROGRESS = _words(
    r"(?:are|is|theyre|hes|shes) (?:beating|jumping|stomping|kicking|choking|stabbing|attacking)"
    r"(?! (?:(?:on|off|over|around|in) (?:the|a|their) (?:lunch )?(?:tables?|beds?|trampoline|couch|furniture|desks?|"
    r"chairs?|bleachers)|the (?:vending|machine|door|wall|locker|ball|table)|a ball|around)\b)",
    r"(?:is|are|getting|being) (?:jumped|beat up|beaten(?: up)?|stomped|stabbed|attacked|choked)",
    r"(?:(?:le|lo|la|les|los) )?(?:estan|esta) (?:pegando|golpeando|ahorcando|apunalando|madreando)(?: a)?",
)
# Someone being beaten, or just thrown through something, in a fight as the tip is written.
_VICTIM = (
    r"(?:a|the|one|this|that|my|some|his|her|their|another) (?:\w+ ){0,2}"
    r"(?:kid|boy|girl|student|child|freshman|sophomore|junior|senior|guy|dude|teen|grader|brother|sister|friend|son|"
    r"daughter|man|woman|player)s?"
)
BEING_BEATEN = _words(
    r"(?:still|keeps?|kept on|wont stop|dont stop|not stopping|are|is|theyre|hes|shes) "
    r"(?:kicking|punching|hitting|stomping|beating|slamming|choking|pounding|jumping|stabbing)"
    r"(?: (?:on|up))? (?:him|her|them|each other|" + _VICTIM + ")",
    r"(?:beating|jumping|stomping|kicking|punching) (?:on |up )?" + _VICTIM,
    r"(?:getting|being) (?:jumped|beat(?:en)?(?: up)?|stomped|kicked|punched|slammed|choked)",
    r"(?:le|lo|la|les|los) (?:estan|siguen|sigue|esta) (?:pegando|golpeando|pateando|madreando|ahorcando)",
    r"(?:estan|siguen) (?:golpeando|pateando|pegandole|madreando) a",
    r"no (?:lo|la|los|las) (?:sueltan|dejan de pegar)",
    r"(?:lo|la) tienen en el (?:suelo|piso)",
    r"(?:just )?(?:got|been|was) (?:thrown|slammed|shoved|pushed|body ?slammed) (?:\w+ )?"
    r"(?:into|through|against|down|onto|on)",
)
# ... and hurt by it: bleeding, down and not moving, a head slammed, a bone broken.
HURT_IN_THE_FIGHT = _words(
    "bleeding",
    r"bloody|blood",
    r"sangr(?:e|ando|a)",
    r"(?:knocked|passed) (?:\w+ )?out",
    r"(?:not|isnt|wont|cant|aint) (?:moving|getting up|get up|waking up|wake up|fighting back)",
    r"(?:on|curled up on) the (?:ground|floor|pavement|concrete)",
    r"(?:hit|slammed|smashed|banged) (?:\w+ )?(?:head|face)",
    r"(?:his|her) (?:head|face) (?:into|against|on)",
    r"(?:broke|broken|busted) (?:his|her|their) (?:nose|jaw|arm|ribs?)",
    r"cut (?:bad|badly|open)|(?:hes|shes) cut",
    r"no se (?:levanta|mueve)",
    r"en el (?:suelo|piso)",
    r"(?:le )?rompieron (?:la|el) (?:nariz|brazo|cara)",
    r"herid[oa]",
    "inconsciente",
    r"(?:hurt|injured) (?:bad|badly|really bad)",
)
# A beating that happens again and again is bullying or abuse: serious (high), not happening now.
HABITUAL = _words(
    r"every (?:single )?(?:day|morning|afternoon|week|time)",
    r"(?:for|since) (?:a|two|three|\w+) (?:months?|weeks?)",
    r"all (?:year|semester|week)",
    "todos los dias",
    r"cada (?:dia|semana|vez)",
)
HURRY = _words(
    "right now",
    "rn",
    "hurry",
    "asap",
    "please come",
    "send someone",
    "someone needs to go",
    "call 911",
    "ahorita",
    "ahora mismo",
    "apurense",
    "vengan",
    "rapido",
    "en este momento",
)
HAZARD = _words(
    "gas leak",
    r"smells? (?:like )?gas",
    r"gas smell|smell of gas",
    "carbon monoxide",
    r"(?:on )?fire(?! (?:alarm|drill|extinguisher|marshal|department|truck|fighter|station|pit)\b)",
    r"(?<!vape )(?<!vaping )smoke(?! (?:in|weed|cigs?|vapes?|pot)\b)",
    "fuga de gas",
    "olor a gas",
    r"monoxido",
    "incendio",
    "humo",
    r"se (?:esta )?quemando",
)
# A fire in a building as the tip is written is critical by itself ("there's a fire in the boys bathroom right now").
FIRE_NOW = _words(
    r"(?:theres|there is|theres a) (?:a )?fire",
    r"(?:building|house|school|room|bathroom|kitchen|car|gym|classroom|trash can|dumpster|garage|bus|escuela|casa|"
    r"cocina|bano|salon|carro) (?:is|esta|estan) (?:on fire|en llamas|quemandose)",
    r"hay (?:un )?incendio",
    r"(?<!camp)(?<!bon)fire (?:in|at) (?:the|a) (?!hole\b)\w+",
    r"incendio en (?:la|el) \w+",
    r"smoke (?:everywhere|filling|pouring)",
)
HAZARD_HARM = _words(
    "dizzy",
    r"headaches?",
    r"throwing up",
    r"passed out",
    _CANT_BREATHE,
    "coughing",
    r"sick",
    r"maread[oa]s?",
    "dolor de cabeza",
    "vomitando",
    r"se desmay\w*",
    "no pueden respirar",
)
_ADULT = (
    r"(?:man|guy|adult|older(?! (?:kids|students|friends|teens|girls|boys|sister|brother|cousin|sibling)\b)"
    r"|stranger|"
    r"\d\d ?-?(?:year|yr) ?-?old|\d\d ?yo|hes (?:19|2\d|3\d)|hombre|senor|adulto|"
    r"mayor|(?:chavo|senor|hombre|tipo|vato) de (?:1[89]|[2-5]\d))"
)
_MEET = (
    r"(?:meet|meeting|run(?:ning)? away (?:with|to)|pick (?:her|him) up|picking (?:her|him) up|sneak(?:ing)? out|"
    r"(?:se (?:va|van|iba) a ver|verse)(?: \w+){0,5} con|ver con|escapar(?:se)? con|se va a escapar|irse con|"
    r"fugarse con)"
)
MEETING_ADULT = r"\b" + _MEET + r"\b.{0,60}\b" + _ADULT + r"\b|\b" + _ADULT + r"\b.{0,60}\b" + _MEET + r"\b"
# A relative is not a stranger ("meeting her older sister", "her grandpa will pick her up").
FAMILY = _words(
    r"older (?:sister|brother|cousin|sibling)",
    r"(?:hermana|hermano|prima|primo) mayor",
    r"grand(?:pa|ma|father|mother)",
    r"abuel[oa]",
)
# The tip itself says the danger is over, false, figurative or not now: the model decides, not a rule.
# Over, false or handled, unless the tip goes on to a new danger ("the last rumor was fake but this time he has
# the gun", "ya lo investigaron una vez, hoy trae una pistola").
_SETTLED_OVER = _words(
    "closing the loop",
    r"clos(?:e|ed) (?:the|this) (?:case|report|tip)(?: out)?",
    r"cerr(?:ar|aron|o|amos) (?:el|este) (?:caso|reporte)",
    r"(?:just|only) (?:a )?rumou?rs?",
    r"rumou?rs? (?:was|were|is|are) (?:false|fake|wrong|not true|made up)",
    r"(?:solo|puro|pura|era|es un|fue un) (?:rumor|chisme)",
    "not true",
    "no es cierto",
    "no era cierto",
    "fake",
    r"false (?:alarm|rumou?r)",
    r"(?:es|era|fue|eran|son) (?:mentira|falso|falsa)",
    "falsa alarma",
    "not credible",
    # not "already told the office and nobody came": telling someone settles nothing (talking to them may)
    r"already (?:met|talked|handled|checked|verified|looked into|cleared|investigated|dealt with|resolved)",
    r"(?:was|were|been|got|has been|have been) (?:cleared|resolved|handled|dealt with|looked into)(?! to\b)",
    r"(?<!life )(?<!world )(?:is|was|its|it was|are|were) not real(?! (?:to|anymore)\b)",
    r"(?<!life )(?:isnt|wasnt|arent|werent) real(?! (?:to|anymore)\b)",
    r"no (?:es|era|son|eran) real(?:es)?",
    r"(?:was|were|is|its|are|all|totally|completely|thats) made ?-?up|"
    r"made ?-?up (?:story|stories|rumou?rs?|threats?|lies?|thing)",
    r"(?:es|era|fue|son|eran|todo|esta|estaba) inventad[oa]s?|(?:historia|cuento|chisme|rumor|amenaza) inventad[oa]",
    r"no (?:concern|danger|threat|risk) (?:remains|left|anymore)(?! for\b)",
    r"(?:nadie|ya no) corre peligro",
    r"(?:in|into) custody",
    r"(?:was|were|got|been|has been) (?:arrested|sent home|detained)",
    r"(?:there was|there is|found|they found) no (?:gun|knife|weapon)",
    r"(?:threat|danger) is over",
    r"(?:at|in) the (?:hospital|er) (?:now )?and (?:stable|safe|ok|okay)",
    r"ya (?:lo |la |los |las )?(?:revisaron|investigaron|checaron|resolvieron|aclararon)",
    r"turned out(?! (?:to be )?(?:real|true|that (?:he|she|they) (?:has|had|did|is)|(?:he|she|they) (?:has|had|is)))",
    r"(?:was|were|its|it was) (?:a )?(?:joke|lyrics|song|meme)",
    "just kidding",
    "ya lo verificaron",
    "ya la vio",
    "ya hablo con",
)
_CONTRAST = (
    r"(?![^\n]{0,200}?\b(?:(?:but|pero)\W+(?:\w+\W+){0,3}?(?:he|she|they|hes|shes|theyre|him|her|now|today|tonight|tomorrow|rn|"
    r"i saw|el|ella|ellos|se|ahora|hoy|manana|yo vi|has|had|got|brought|tiene|trae|lleva)|"
    r"this time|esta vez|otra vez|again|"
    r"(?:now|today) (?:he|she|they|hes|shes|theyre)|(?:hoy|ahora) (?:si|el|ella|trae|tiene))\b)"
)
# Not now, not meant, or a figure of speech ("not in danger right now but she wants to die" is not a plan
# for tonight), unless the tip says it is different this time.
_SETTLED_NOT_NOW = _words(
    "just talk",
    "means beat",
    r"not (?:in danger|doing it|going to do it|gonna do it)",
    r"(?:its|it is|thats|is) not happening",
    "no plan",
    r"wont act",
    r"no (?:tiene|tengo) (?:un )?plan",
    r"no hoy(?!,? (?:que |pero |sino )?manana)",
    r"no (?:esta|estoy) pasando",
    r"(?:kill|murder|shoot) (?:the|this|that) (?:test|exam|presentation|video|game|quiz|project)",
    r"chess(?! (?:club|team))",
    r"matar el examen",
)
# "This time", "again": the words by which a tip says a danger is back (shared by the guards below).
_AGAIN_WORDS = r"this time|esta vez|otra vez|de nuevo|again"
_SETTLED_AGAIN = r"(?![^\n]{0,200}?\b(?:" + _AGAIN_WORDS + r")\b)"
SETTLED = "(?:" + _SETTLED_OVER + _CONTRAST + ")|(?:" + _SETTLED_NOT_NOW + _SETTLED_AGAIN + ")"
# "She's safe at home tonight": the person at risk is safe, a guard for the rules about that person only. Not for a
# weapon or an attack, where the safe one is someone else ("gun in the cafeteria, my class is safe in lockdown").
PERSON_SAFE = (
    _words(
        r"(?<!this )(?<!it )(?<!app )(?<!anonymous )(?<!site )(?<!everyone )(?<!everybody )(?<!kids )(?<!we )"
        r"(?<!brother )(?<!sister )(?:im|shes|hes|theyre|is|are|was|were) safe"
        r"(?![,.]? (?:im|i am|its) not (?:the one|me|about me)\b)"
        r"(?!,? (?:just|only) )"
        r"(?! with me\b)(?! (?:in|inside) (?:\w+ )?(?:lockdown|hiding)|"
        r" for now but| (?:from (?:him|her|them)|to (?:go|come|leave|be)|with (?:him|her|them|that \w+)\b))",
        r"(?:esta|estan|estoy) a salvo",
    )
    # the safe one is someone else ("im safe but my mom took a whole bottle of pills")
    + r"(?![^\n]{0,200}?\b(?:but|pero) (?:my|mi|his|her|su|another|the other|a) \w+)"
    + _CONTRAST
)
# Laughter, unless the reporter is plainly worried ("idk what to do lol", "everyone laughed lol ... im scared") or
# goes on to what was said ("jajaja todos se rieron pero dijo que manana va a disparar").
_WORRIED = _words(
    r"idk what to do",
    r"i dont know what to do",
    r"(?:im|i am|i was|were|we are) (?:so |really |kinda |kind of |lowkey )?(?:scared|worried|terrified|freaking out)",
    r"freaking out",
    r"please help",
    r"not joking",
    r"no (?:es|era) (?:broma|chiste)",
    r"no se que hacer",
    r"tengo miedo",
    r"estoy (?:muy )?preocupad[oa]",
)
_WORRIED_RE = re.compile(_WORRIED)
JOKING = (
    _words("lol", "lmao", "jk", "just kidding", "haha", "jaja", "jajaja", "bromeando", "era broma")
    + r"(?![^\n]{0,200}?\b(?:but|pero) (?:(?:he|she|they|el|ella|my friend|mi amig[oa]) )?"
    r"(?:said|says|dijo|dice|told|posted|publico)\b)"
)
# Guards that belong to one rule only (a word that excuses a goodbye post does not excuse a gun).
# A goodbye post the reporter explains: a hacked or fake account, or the family moving to another town;
# not when the same sentence goes on "but it's real" ("his snap got hacked last week but this one is real").
GOODBYE_EXPLAINED = (
    _words(
        r"(?:account|acct|page|insta|instagram|snap|snapchat|tiktok) (?:was|got|had been|has been) hacked",
        r"hacked (?:account|acct|page)",
        r"cuenta (?:falsa|hackeada)",
        "we are moving",
        r"(?:our|her|his|their) family (?:is|are) moving",
        r"moving to (?:another|a new|a different) (?:school|town|city|state)",
        r"(?:going|went|leaving|flying) (?:to|for) (?:\w+ ){0,4}(?:competition|tournament|trip|vacation|camp|meet)",
        r"(?<!not )(?<!isnt )(?:hes|shes|theyre|is|are|literally|actually) moving (?:to|away)\b",
        r"retir(?:es|ing|ed|ement)|(?:hes|shes|is|theyre|are|im) graduating|(?:because|cuz|bc) (?:of )?graduation",
        r"jubil\w+",
        r"last day of school|(?:senior|school) year is over",
        r"passed away|(?:grand(?:ma|pa|mother|father)|aunt|uncle|abuel[oa]|tia|tio)\w* (?:passed|died)|fallecio",
        r"se (?:muda|mudan|va a mudar|van a mudar) a",
        "se cambia de escuela",
        r"(?:me|se|nos) (?:cambio|cambia|cambiamos|voy a cambiar|va a cambiar) de "
        r"(?:escuela|turno|ciudad|casa|trabajo)",
        r"(?:me|nos|se) (?:mudo|mudamos|muda|mudan)\b",
        r"(?:is|was|its|it was|just|only|thats) (?:just |only )?(?:a |some )?"
        r"(?:fictional|fiction|(?:fiction )?story|creative writing|(?:song )?lyrics)",
        r"(?:words|lyrics|lines?|quote) (?:to|from|of) (?:a|the|that|this) song|letra de (?:una|la) cancion",
        r"(?:a|her|his) fictional story|(?:a )?story (?:shes|hes|she is|he is) writing",
    )
    + r"(?![^.!?\n]{0,200}?\b(?:but|pero|real|really|de verdad|this time|esta vez)\b)"
)
# For the floors at high only: the reporter says the words were not meant, were fiction or a game, or the post
# comes from somewhere else ("not a threat", "a line from the school play", "a chain message from years ago").
# A critical rule does not listen to these: "a kid from another school says he'll shoot up KW tomorrow".
NOT_MEANT = (
    _words(
        r"not (?:a )?(?:real )?threat(?! to\b)",
        r"no (?:es|era|fue) (?:una )?amenaza",
        r"(?:is|was|its|it was|hes|shes|he was|she was)(?: not|nt) (?:being )?serious",
        r"no (?:es|era|lo dijo|lo dice) (?:en )?serio",
        r"(?:nobody|no one|nobodys|noone) (?:is |was )?(?:actually |really )?(?:sad|suicidal|in danger)",
        # the words themselves come from a play or a film ("it's a line from the school play"), not "kicked out of
        # the school play and now says he wants to die" nor "shoot up the school like in the movie"
        r"(?:is|was|its|it was|thats|are|were|a line|lines?) (?:just )?(?:from|for|in|part of) "
        r"(?:the|a|our|his|her|this) (?:school )?(?:play|musical|film|movie|script|book report|research project|"
        r"history project)",
        r"(?:for|in) (?:the|a|his|her|their) (?:history project|book report|research project|science project)",
        r"(?:for|used in) (?:the|a|our|his|her) (?:school )?(?:play|musical|film|movie)",
        r"obra de teatro",
        r"monologue",
        r"(?:is|its|thats|from) (?:the|a) script",
        r"(?:is|was|its|it was|thats|are|were|just|only) (?:just |only )?(?:a |the |some )?(?:song )?lyrics|"
        r"lyrics (?:from|of|to)|(?:words|lines?|quote) (?:from|of|to) (?:a|the|that) song|"
        r"(?:are|is|was|were|its|it was) (?:from|of) (?:a|the|that|some) (?:\w+ )?song|"
        r"(?:es|era|son) (?:la )?letra de (?:una|la|esa) cancion",
        # what the words were about, not where they were said ("told me on roblox hes going to stab his sister")
        r"(?:talking|was|its|is|it was|all) about (?:a |the |that )?"
        r"(?:video ?game|roblox|fortnite|minecraft|call of duty)",
        r"(?:hablaba|hablando|era) (?:de|del) (?:un )?(?:videojuego|juego)",
        # a post from another place or year, not "a message from another student"
        r"(?:video|post|message|threat|screenshot|repost|trend|mensaje|publicacion) (?:is |was |es |era |fue )?"
        r"(?:from|de) (?:(?:another|a different|otra|otro) "
        r"(?:state|school|town|city|country|estado|escuela|ciudad|pais)|una escuela de|a school in|years ago|hace anos|"
        r"\d{4})",
        r"chain (?:message|mail|letter|post)",
        r"(?:mensaje|cadena) (?:de cadena|viral)",
        r"(?:trend|repost) from",
        # a stage or craft object ("a prop gun", "a cardboard machete", "una pistola de pegamento"); not a guard of the
        # critical rules, where a prop and a real weapon in one tip would silence the real one ("his 'prop knife'
        # is actually a real switchblade", "the foam sword is on his bed but the machete is gone")
        r"(?:cardboard|rubber|plastic|foam|wooden|paper) (?:knife|knives|guns?|swords?|machete|rifles?)",
        r"(?:cuchillos?|pistolas?|espadas?|navajas?|rifles?) de "
        r"(?:plastico|carton|hule|madera|utileria|pegamento|silicon)",
        r"prop (?:guns?|knife|knives|rifles?|swords?|weapons?)",
        r"(?:was|is|its|it was) (?:a |an )?(?:theater |theatre |stage )?prop",
    )
    + _CONTRAST
)
# "Murder this geometry test": schoolwork, never people ("the final two people on his list").
SCHOOLWORK_FIGURATIVE = (
    r"\b(?:kill|murder|destroy) (?:this|that|the) (?:(?:math|geometry|algebra|chem|chemistry|bio|biology|"
    r"physics|history|english|spanish|science|calc|calculus|stats) )?(?:test|exam|final|quiz|essay)\b"
    r"(?! (?:two|three|four|five|\d+|people|kids|ones?|students?|boys?|girls?|guys?|teachers?)\b)|"
    # "the test tomorrow is so hard everybody is going to die"
    r"\b(?:test|quiz|exam|final|homework)\b[^.!?\n]{0,60}\b(?:everyone|everybody|all of us|were all) (?:is |are )?"
    r"(?:gonna|going to) die\b"
)
# A parent who "is gonna kill him" over a grade is a figure of speech, unless the tip tells of real harm ("last
# time he broke his arm", "lo dejo morado").
PARENT_FIGURATIVE = (
    r"(?<![\s\S])(?![\s\S]*\b(?:broke|bruis\w*|belt|hits?|beats?|beat (?:him|her)|"
    r"punch\w*|chok\w*|marks?|morad[oa]|golpe\w*|"
    r"pega|cinto|cinturon|hurt|hospital)\b)[\s\S]*?"
    r"\b(?:mom|dad|mother|father|parents?|mama|papa|grandma|abuela)\b[^.!?\n]{0,20}"
    r"\b(?:gonna|going to|will|va a|van a|(?:lo|la|le) va a) "
    r"(?:kill|matar)\b[^\n]{0,80}\b(?:grades?|test|report card|boleta|calificaciones|examen|failed|reprobo)\b"
)


# An earlier day, as PAST, and last night; unlike PAST it is not lifted by "she still has a headache today",
# which is how a weapon rule hears "he still has it".
EARLIER = PAST + "|" + _words(r"(?<!since )last night", r"(?<!desde )anoche")


@dataclass(frozen=True)
class SafetyRule:
    """All of `all_of` must match and none of `none_of`; then urgency is at least `floor`."""

    name: str
    floor: str
    all_of: tuple[str, ...]
    none_of: tuple[str, ...] = ()


# The table. Read it top to bottom: the critical rules, then the floors at high.
RULES: tuple[SafetyRule, ...] = (
    SafetyRule("weapon at school now", "critical", (WEAPON, AT_SCHOOL, NOW), (NOT_A_WEAPON, PAST, SETTLED)),
    SafetyRule(
        "weapon carried at school",
        "critical",
        (
            r"\b(?:has|have|got|is carrying|carrying|brought|trae|tiene|lleva|traia|pulls(?: out)?|waving|sacando|"
            r"(?:theres|there is|hay|is|esta|estan|just)(?: \w+){1,6} (?:with|w|con))\b"
            r".{0,25}" + WEAPON,
            AT_SCHOOL,
        ),
        (NOT_A_WEAPON, PAST, SETTLED),
    ),
    SafetyRule("suicide plan with a time", "critical", (SUICIDE_INTENT, SUICIDE_SOON), (SETTLED, JOKING, PERSON_SAFE)),
    SafetyRule("suicide plan with a means", "critical", (SUICIDE_INTENT, MEANS, SOON), (SETTLED, JOKING, PERSON_SAFE)),
    SafetyRule(
        "pills saved up, with a time",
        "critical",
        (MEANS_SAVED_UP, SOON),
        (SETTLED, JOKING, PAST, PERSON_SAFE),
    ),
    SafetyRule("goodbye message", "critical", (GOODBYE,), (SETTLED, JOKING, GOODBYE_EXPLAINED, PERSON_SAFE)),
    SafetyRule("overdose or unresponsive", "critical", (OVERDOSE_OR_UNRESPONSIVE,), (SETTLED, PAST, PERSON_SAFE)),
    SafetyRule("hanging now", "critical", (HANGING_NOW,), (SETTLED, PAST, PERSON_SAFE)),
    SafetyRule(
        "on the edge now",
        "critical",
        (ON_THE_EDGE, SUICIDE_INTENT + "|" + JUMP),
        (SETTLED, JOKING, PAST, PERSON_SAFE),
    ),
    SafetyRule(
        "warning to stay away on a day", "critical", (STAY_AWAY_WARNING, SOON), (SETTLED, JOKING, STAY_AWAY_ORDINARY)
    ),
    SafetyRule(
        "attack with a date", "critical", (ATTACK, SOON), (SETTLED, JOKING, SCHOOLWORK_FIGURATIVE, PARENT_FIGURATIVE)
    ),
    SafetyRule("afraid to go home tonight", "critical", (HOME_FEAR, SOON), (SETTLED, PERSON_SAFE)),
    SafetyRule("someone badly hurt now", "critical", (INJURED_NOW,), (SETTLED, PAST, PERSON_SAFE)),
    SafetyRule(
        "child to be hurt at home today",
        "critical",
        (GOING_HOME, HURT_AT_HOME, SOON),
        (SETTLED, JOKING, PERSON_SAFE, PARENT_FIGURATIVE),
    ),
    SafetyRule("assault in progress", "critical", (VIOLENCE_IN_PROGRESS, HURRY), (SETTLED,)),
    SafetyRule(
        "assault now, someone hurt",
        "critical",
        (BEING_BEATEN, HURT_IN_THE_FIGHT),
        (SETTLED, EARLIER, JOKING, PERSON_SAFE, HABITUAL),
    ),
    SafetyRule("someone on the way to hurt", "critical", (COMING_TO_HARM,), (SETTLED, JOKING)),
    SafetyRule(
        "someone on the way with a weapon",
        "critical",
        (COMING_ARMED,),
        (
            SETTLED,
            JOKING,
            PAST,
            NOT_A_WEAPON,
            r"\bif (?:they|he|she|we|you|i) (?:\w+ ){0,3}(?:expel|suspend|kick|cut|fire|ban|break|dump)\w*",
        ),
    ),
    SafetyRule(
        "attack plan on a map, with a time",
        "critical",
        (ATTACK_MAP, MAP_TARGETED, SOON + "|" + COUNTDOWN),
        (SETTLED, JOKING, MAP_ORDINARY),
    ),
    SafetyRule(
        "attack plan on a map, with a countdown",
        "critical",
        (ATTACK_MAP, _ANY_MARK, COUNTDOWN),
        (SETTLED, JOKING, MAP_ORDINARY),
    ),
    SafetyRule(
        "hazard hurting people now",
        "critical",
        (HAZARD, HAZARD_HARM, NOW),
        (SETTLED, PAST, r"\bdrill\b", PERSON_SAFE),
    ),
    SafetyRule(
        "self-harm now",
        "critical",
        (SELF_HARM_NOW,),
        (
            SETTLED,
            JOKING,
            PAST,
            PERSON_SAFE,
            r"\b(?:isnt|is not|wasnt|not|no|never|stopped|quit) (?:\w+ )?(?:cutting|burning|self ?-?harming)|"
            r"\bawareness\b|\bbeen clean\b",
        ),
    ),
    SafetyRule(
        "fire now",
        "critical",
        (FIRE_NOW, HURRY),
        (
            SETTLED,
            JOKING,
            PAST,
            r"\bdrills?\b|simulacro|fire ?pit|fogata|bonfire|campfire|put (?:it|the fire) out|extinguish\w*|"
            r"firefighters are there|everyone is (?:fine|ok|okay|safe|out)",
        ),
    ),
    SafetyRule("child meeting an adult tonight", "critical", (MEETING_ADULT, SOON), (SETTLED, PERSON_SAFE, FAMILY)),
    SafetyRule("pills saved up", "high", (MEANS_SAVED_UP,), (SETTLED, JOKING, PAST, PERSON_SAFE)),
    SafetyRule("suicidal statement", "high", (SUICIDE_INTENT,), (SETTLED, JOKING, PAST, NOT_MEANT, PERSON_SAFE)),
    SafetyRule(
        "threat of an attack", "high", (ATTACK,), (SETTLED, JOKING, SCHOOLWORK_FIGURATIVE, PARENT_FIGURATIVE, NOT_MEANT)
    ),
    SafetyRule("attack plan on a map", "high", (ATTACK_MAP, _ANY_MARK), (SETTLED, JOKING, MAP_ORDINARY)),
    SafetyRule("warning to stay away", "high", (STAY_AWAY_WARNING,), (SETTLED, JOKING, STAY_AWAY_ORDINARY)),
    SafetyRule("weapon at school", "high", (WEAPON, AT_SCHOOL), (NOT_A_WEAPON, SETTLED, NOT_MEANT)),
    SafetyRule("afraid to go home", "high", (HOME_FEAR,)),
    SafetyRule("sexual assault", "high", (SEXUAL_ASSAULT,), (SETTLED, PERSON_SAFE)),
    SafetyRule("adult hurting a child", "high", (ADULT_HURTS,), (SETTLED, PERSON_SAFE)),
)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# A guard the reporter denies is no guard: "this is not a rumor", "it is not fake", "no es falso".
_DENIED = re.compile(
    r"\b(?:not|isnt|wasnt|arent|werent|aint|never|no|no es|no era|no son|nada de)\s+"
    r"(?:(?:a|an|un|una|just|only|some|simply|solo)\s+){0,2}$"
)
# ... nor one the reporter doubts: "idk if its just a rumor", "maybe its fake", "no se si es un rumor".
_HEDGED = re.compile(
    r"\b(?:if|whether|hope|hopefully|maybe|might|could|prob|probably|si|ojala|tal vez|quizas|a lo mejor)\s+"
    r"(?:(?:its|it is|this is|it was|thats|be|is|was|es|sea|era|fue|un|una)\s+){0,2}$|"
    r"\b(?:if|whether|hope|(?:dont|do not|didnt|doesnt) think|not sure|make sure|(?:check|see|know|wonder) (?:if|that)|"
    r"(?:keeps|kept) (?:saying|telling (?:me|us|everyone))|"
    r"no (?:creo|se si) que|no creo)\s+"
    r"(?:(?:she|he|they|shes|hes|theyre|my \w+|her|him|ella|el|its|it is|it was|thats|a|an|un|una|sea|es)\s+){0,3}$"
)


# ... nor one the tip leaves behind for a new matter: "this is different", "separately", "unrelated but", "for
# real", "ahora es algo serio", or a sentence that opens on now ("... was handled. This morning a boy ...").
_NEW_MATTER = re.compile(
    r"\b(?:this is (?:different|real|serious|not (?:a joke|fake|that))|this (?:one )?isnt|this one is real|"
    r"separately|unrelated|on another note|(?:a )?different (?:thing|kid|student|issue|matter|person)|"
    r"not why im (?:writing|reporting|texting)|(?:but|pero) (?:for real|de verdad|en serio)|"
    r"(?:so )?that parts? (?:is |was )?(?:handled|done|over|fine)|esto es (?:diferente|serio|otra cosa)|"
    r"ahora es (?:algo )?(?:serio|diferente|otra cosa)|aparte de eso)\b|"
    r"[.!?] (?:now|today|tonight|this morning|this afternoon|last night|ahora|hoy|esta manana|anoche)\W+"
    r"(?:\w+\W+){0,8}?(?:has|had|have|is holding|brought|showed|took|is in|is posting|messaged|tiene|trae|lleva|"
    r"se tomo|mostro|ensena)\b"
)


_AGAIN = re.compile(r"\b(?:" + _AGAIN_WORDS + r")\b")
# The reporter vouches for the danger after the guard's words: "last week it was a nerf gun but this is real",
# "dicen que es mentira pero esto es en serio". The danger may have been told before the guard.
_AFFIRMED = re.compile(
    r"(?:\b(?:this|this one|this time (?:it|its)) (?:is|was|its)? ?"
    r"(?:real|serious|(?:not|nt) (?:a joke|fake|a drill))\b|"
    r"\b(?:this|this one) (?:isnt|wasnt) (?:a joke|fake|a drill)\b|"
    r"\besto (?:si )?(?:es|va) (?:serio|en serio|de verdad|real)\b|\besta vez es (?:en serio|de verdad|real)\b)"
    # only when it closes its sentence: "this is serious, people keep calling him a shooter" vouches for the bullying
    r"(?=\W{0,3}(?:[.!?\n]|$))"
)
# A clause of a tip: what lies between sentence marks, commas and the words that join clauses.
_CLAUSE_BREAK = re.compile(r"[.!?\n,;:]|\b(?:and|but|pero|then|so|y)\b")
# The present, said in the danger's own clause: "now she wont wake up", "its still there today".
_CLAUSE_NOW = re.compile(
    STRONG_NOW + "|" + _words("now", "today", "this morning", "still", "todavia", "sigue", "hoy", "ahorita")
)
_STRONG_NOW = re.compile(STRONG_NOW)
# Someone has, carries or was seen with the danger: "i saw the gun in his backpack today", "he has a knife".
_HOLDING = re.compile(_words(r"has|have|got|saw|see|seen|brought|bringing|carrying|showed|tiene|trae|vi|lleva"))
# An earlier day in a clause: it tells of then, not now ("over the weekend he showed them a knife").
_PAST = re.compile(
    PAST
    + "|"
    + _words(r"(?:over|on|this past|last) (?:the )?weekend", r"on (?:saturday|sunday)", r"el (?:sabado|domingo|fin)")
)
# The same weapon still there: "he still has it", "brought it again today", "todavia la trae".
_STILL = re.compile(
    _words(
        r"(?:he|she|they|hes|shes|theyre) (?:still|todavia) (?:has|have|got|carries|carrying) (?:it|the|a|his|her)|"
        r"(?:its|it is|it s) still (?:there|in (?:his|her|the))",
        r"(?:he|she|they) (?:has|have|got|brought|is carrying|carries) it "
        r"(?:\w+ ){0,5}(?:today|rn|right now|now|hoy|ahorita)",
        r"(?:its|it is|la tiene|lo tiene|la trae|lo trae) (?:\w+ ){0,3}(?:in|en) (?:his|her|the|su|la|el) "
        r"(?:backpack|bag|locker|pocket|waistband|hoodie|mochila|bolsa)\b[^.!?\n]{0,30}"
        r"\b(?:rn|right now|ahorita|now|today|hoy)",
        r"(?:brought|has|had|got) it (?:again|back)",
        r"todavia (?:la|lo) (?:trae|tiene)",
        r"sigue (?:con|trayendo)",
    )
)
# How far after a turn to a new matter the rule's danger must be told.
_TURN_REACH = 600


def _clause_spans(normalized_text: str) -> tuple[tuple[int, int], ...]:
    """Where each clause of the text begins and ends. Worked out again for each rule that weighs a guard (a few
    a tip, microseconds each) rather than cached: a cache would keep the last tips' text in the process after
    their assessment, where a core dump could carry it."""
    breaks = list(_CLAUSE_BREAK.finditer(normalized_text))
    starts = [0] + [m.end() for m in breaks]
    ends = [m.start() for m in breaks] + [len(normalized_text)]
    return tuple(zip(starts, ends, strict=True))


def _now_clauses(normalized_text: str, danger: str) -> list[tuple[int, bool]]:
    """Where the clauses begin that tell the rule's danger in the present and no earlier day ("and right now hes
    unresponsive", "and now she wont wake up"), each with whether it also says "right now" or someone has or saw
    the danger there ("i saw the gun in his backpack today"). The past guard is lifted by any of them; another
    guard only by such a clause after it ("already cleared, the gun he had is with the police now" stays
    cleared)."""
    pattern = _compiled(danger)
    return [
        (
            start,
            bool(
                _STRONG_NOW.search(normalized_text, start, end) or _HOLDING.search(normalized_text, start, end)
            ),
        )
        for start, end in _clause_spans(normalized_text)
        if end > start
        and _CLAUSE_NOW.search(normalized_text, start, end)
        and not _PAST.search(normalized_text, start, end)
        and pattern.search(normalized_text, start, end)
    ]


def _turns_to_new_danger(
    normalized_text: str, after: int, dangers: tuple[str, ...], now_clauses: list[tuple[int, bool]]
) -> bool:
    """Whether, after position `after`, the tip vouches for its danger ("but this is real"), tells it in a clause of
    its own with "right now" or someone holding it, or turns to a new matter and tells the rule's danger (its first
    pattern) there."""
    if _AFFIRMED.search(normalized_text, after, after + 300):
        return True
    if any(start >= after and holds for start, holds in now_clauses):
        return True
    turn = _NEW_MATTER.search(normalized_text, after, after + 300)
    if turn is None:
        return False
    reach = turn.start() + _TURN_REACH
    if _AGAIN.search(normalized_text, turn.start(), reach):
        return True
    return bool(_compiled(dangers[0]).search(normalized_text, turn.start(), reach))


def _still_there(normalized_text: str) -> bool:
    """Whether the tip says the weapon is still there, not as a doubt ("idk if its still there")."""
    return any(
        not _HEDGED.search(normalized_text, max(0, m.start() - 20), m.start()) for m in _STILL.finditer(normalized_text)
    )


def _guards(pattern: str, normalized_text: str, dangers: tuple[str, ...], now_clauses: list[tuple[int, bool]]) -> bool:
    """Whether a none_of pattern holds somewhere in the text: not right after a denial or a doubt, not before the
    tip vouches for or turns to a danger (`dangers`: the rule's all_of), and for the past guard, not in a tip that
    tells the danger right now."""
    if pattern == PAST and (now_clauses or _still_there(normalized_text)):
        return False
    if pattern == JOKING and _WORRIED_RE.search(normalized_text):
        return False
    return any(
        not any(cue.search(normalized_text, max(0, match.start() - 20), match.start()) for cue in (_DENIED, _HEDGED))
        and not _turns_to_new_danger(normalized_text, match.end(), dangers, now_clauses)
        for match in _compiled(pattern).finditer(normalized_text)
    )


def rule_fires(rule: SafetyRule, normalized_text: str) -> bool:
    """Whether the rule matches a text already passed through `text.normalize()`."""
    if not all(_compiled(p).search(normalized_text) for p in rule.all_of):
        return False
    present = [p for p in rule.none_of if _compiled(p).search(normalized_text)]
    if not present:  # no guard word at all: nothing to weigh
        return True
    now_clauses = _now_clauses(normalized_text, rule.all_of[0])
    return not any(_guards(p, normalized_text, rule.all_of, now_clauses) for p in present)


def fired_rules(normalized_text: str) -> list[SafetyRule]:
    """The rules of the table that match, in table order."""
    return [rule for rule in RULES if rule_fires(rule, normalized_text)]


def apply_rules(
    urgency: str, normalized_text: str, fired: Sequence[SafetyRule] | None = None
) -> tuple[str, list[SafetyRule]]:
    """Raise `urgency` to the floor of every rule that fires; never lower it. `fired`, if given, is what
    `fired_rules(normalized_text)` returned before (training runs the rules on its tips while it fits)."""
    fired = fired_rules(normalized_text) if fired is None else list(fired)
    return max_urgency(urgency, *(rule.floor for rule in fired)), fired
