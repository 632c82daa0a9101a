"""The safety rules: they only ever raise urgency, in English and Spanish, and ignore figures of speech."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import triage
from triage.rules import RULES, apply_rules, fired_rules
from triage.taxonomy import URGENCIES, urgency_rank
from triage.text import normalize

REVIEW_NOT_MEANT = Path(__file__).with_name("review_not_meant.jsonl")
REVIEW_MIXED = Path(__file__).with_name("review_mixed.jsonl")
REVIEW_SPANISH = Path(__file__).with_name("review_spanish.jsonl")
REVIEW_ENGLISH = Path(__file__).with_name("review_english.jsonl")

# Words the rules look for, so random texts often fire them.
TRIGGERS = [
    "gun",
    "school",
    "now",
    "tonight",
    "kill myself",
    "pills",
    "goodbye",
    "shoot up",
    "tomorrow",
    "pistola",
    "escuela",
    "ahorita",
    "matarme",
    "esta noche",
    "nerf",
    "lol",
    "update",
    "afraid to go home",
]


def fired(text: str) -> list[str]:
    """The names of the rules that fire on a raw tip text."""
    return [rule.name for rule in fired_rules(normalize(text))]


def floors(text: str) -> list[str]:
    return [rule.floor for rule in fired_rules(normalize(text))]


def top_floor_rank(text: str) -> int:
    """The rank of the highest floor the rules set on a raw tip text, -1 when none fires."""
    return max((urgency_rank(floor) for floor in floors(text)), default=-1)


def read_review(path: Path) -> list[dict[str, str]]:
    """A blind review set: the taxonomy's keys, and for some sets the `kind` of tip the writer was asked for."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def model_urgencies(tips: list[dict[str, str]]) -> list[str]:
    return [a.urgency for a in triage.load_model().assess_many([t["text"] for t in tips])]


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.one_of(st.sampled_from(TRIGGERS), st.text(max_size=12)), max_size=12),
    base=st.sampled_from(URGENCIES),
)
def test_rules_never_lower_urgency(words: list[str], base: str) -> None:
    raised, fired = apply_rules(base, normalize(" ".join(words)))
    assert urgency_rank(raised) >= urgency_rank(base)
    assert urgency_rank(raised) == max([urgency_rank(base)] + [urgency_rank(r.floor) for r in fired])


def test_every_rule_has_a_valid_floor_of_high_or_more() -> None:
    assert all(rule.floor in ("high", "critical") for rule in RULES)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("he has a gun in his backpack right now in 3rd period", "weapon at school now"),
        ("tiene una pistola en la mochila ahorita en la escuela", "weapon at school now"),
        ("she has her moms pills and says she will kill herself tonight", "suicide plan with a time"),
        ("mi amiga dijo que se va a matar esta noche", "suicide plan with a time"),
        ("he posted a goodbye message to everyone", "goodbye message"),
        ("dijo que mañana va a disparar en la escuela", "attack with a date"),
        ("he said he will shoot up the school on friday", "attack with a date"),
        ("my friend took a whole bottle of tylenol and is not breathing right", "overdose or unresponsive"),
        ("I'm afraid to go home tonight, my stepdad said he'd hurt me", "afraid to go home tonight"),
        ("tengo miedo de ir a mi casa hoy", "afraid to go home tonight"),
    ],
)
def test_rule_fires_on_english_and_spanish(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "this test is killing me",
        "my mom is gonna kill me if i fail tomorrow",
        "im going to kill this presentation tomorrow lol",
        "it was a nerf gun at school today and everyone knows it",
        "mi mama me va a matar si repruebo mañana",
        "ya im going to murder this chem final on thursday, been studying all week",
        "gonna kill this geometry test tomorrow fr",
    ],
)
def test_no_critical_rule_fires_on_figures_of_speech(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    "text",
    [
        "the goodbye post on Maya's snap is because her account got hacked, she did not write it",
        "Her 'goodbye everyone' story is because we are moving to Billings next week. She is fine, I'm her mom.",
        "el mensaje de despedida de Sofi es porque se muda a Laramie, no pasa nada",
        "la carta de despedida que circula es de una cuenta falsa, no es de él",
    ],
)
def test_a_goodbye_the_reporter_explains_is_left_to_the_model(text: str) -> None:
    assert "goodbye message" not in fired(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("he says he is going to kill the whole wrestling team tomorrow at practice", "attack with a date"),
        ("he said he is going to kill the final two people on his hit list tomorrow", "attack with a date"),
        ("he told me he is going to kill my project partner tomorrow", "attack with a date"),
        ("he is moving to the gym right now and he has a gun in his hoodie", "weapon at school now"),
        ("some kids were moving a gun into his locker at school right now", "weapon at school now"),
        ("he was hacked with a machete in the parking lot and is not moving", "someone badly hurt now"),
        (
            "she texted me goodbye tonight and said to take care of my sister. she is moving her stuff out",
            "goodbye message",
        ),
        ("his snapchat got hacked last week but this goodbye post is real, he posted it tonight", "goodbye message"),
        ("mi amiga se muda y me dijo que se va a matar esta noche, tiene las pastillas", "suicide plan with a time"),
        ("he said he was only joking but he told me he'd shoot up the school on monday", "attack with a date"),
        ("i dont think he was obviously joking, he said he would shoot up the school monday", "attack with a date"),
    ],
)
def test_the_exceptions_do_not_excuse_a_real_danger(text: str, rule: str) -> None:
    assert rule in fired(text)


def test_spanish_molestar_is_bullying_not_sexual_assault() -> None:
    """ "Molestar" means to bother: "los que lo molestan" are bullies, not molesters."""
    names = fired("dijo que va a matar a los que lo molestan")
    assert "sexual assault" not in names
    assert "threat of an attack" in names


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("this is not a rumor, he has a gun in his backpack at school right now", "weapon at school now"),
        ("its not fake, he has a real gun at school right now", "weapon at school now"),
        ("it is NOT a nerf gun, he has a real gun in his backpack at school right now", "weapon at school now"),
        ("no es un rumor, trae una pistola en la escuela ahorita", "weapon at school now"),
        ("no es de juguete, trae una pistola en la mochila en la escuela ahorita", "weapon at school now"),
        ("this is not just a rumor, he has a gun in his backpack at school right now", "weapon at school now"),
        ("dijo que va a disparar mañana, no era broma", "attack with a date"),
        ("idk maybe its fake, he has a gun in his backpack at school right now", "weapon at school now"),
        ("no se si es de juguete, trae una pistola en la mochila en la escuela ahorita", "weapon at school now"),
    ],
)
def test_a_guard_the_reporter_denies_does_not_stop_a_rule(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "that rumor was fake, there is no gun at school today",
        "the gun at school today was fake, the office checked",
        "tiene una pistola de juguete en la escuela hoy",
    ],
)
def test_a_guard_the_reporter_means_still_stops_the_critical_rules(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("he told a bunch of us not to come to school on thursday, 'trust me'", "warning to stay away on a day"),
        ("someone posted 'dont come to school tmrw' with a picture of the cafeteria", "warning to stay away on a day"),
        ("mi primo me dijo que no vaya a la escuela mañana, que va a pasar algo", "warning to stay away on a day"),
        ("dont come to school tomorrow, hes sick of everyone and he has his dads gun", "warning to stay away on a day"),
        ("she's hanging from her closet door on the video call, please send someone", "hanging now"),
        ("mi hermana se esta ahorcando en el baño", "hanging now"),
        ("my friend sent me 'if you're reading this i'm already gone'", "goodbye message"),
        ("he's been giving his stuff away all week and said he won't need it", "goodbye message"),
        ("dicen que lo van a esperar hoy a la salida con bates para matarlo", "attack with a date"),
        ("hes sick and tired of everyone, he told me dont come to school tomorrow", "warning to stay away on a day"),
        ("he said take the day off friday, dont come to school, trust me", "warning to stay away on a day"),
        ("esta enfermo de la cabeza, me dijo que no vaya a la escuela mañana", "warning to stay away on a day"),
        ("we found him hanging in the garage", "hanging now"),
        ("by the time u read this ill be dead", "goodbye message"),
        (
            "a parent called saying he's on his way over to 'make that teacher pay', he sounded drunk",
            "someone on the way to hurt",
        ),
        (
            "her ex is on his way to the school to hurt her because she told the counselor last week",
            "someone on the way to hurt",
        ),
        ("theyre heading over to the park to jump him, like 10 of them", "someone on the way to hurt"),
        ("el papa de Luis viene para aca a golpearlo, esta borracho", "someone on the way to hurt"),
        ("my stepdad is driving here to beat my mom again, he just texted", "someone on the way to hurt"),
        ("hes coming to kill me, please send someone", "someone on the way to hurt"),
        ("my dad is on his way to the school right now to hurt ms. alvarez, he's drunk", "someone on the way to hurt"),
        ("mi papa viene para aca a matarme", "someone on the way to hurt"),
        ("ya vienen a pegarles a los de primero", "someone on the way to hurt"),
    ],
)
def test_warnings_attempts_and_goodbyes_a_professional_would_act_on(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "the light fixture by room 40 is hanging by one chain and swinging",
        "ice is hanging off the roof over the main doors",
        "the district said dont come to school tomorrow because of the blizzard",
        "my son is sick with the flu, told him not to go to school tomorrow",
        "She's hanging in there but the bullying keeps getting worse",
        "he was hanging by the bike racks with high schoolers after school",
        "My son got suspended and the principal told him not to come to school until Monday",
        "my son wants to stay home from school tomorrow because kids bully him",
        "dont go to school friday its senior skip day",
        "no vayas a la escuela mañana, hay paro de maestros",
        "If you're reading this, please do something about the vaping in the boys bathroom",
        "un chiste para matarlos de risa hoy",
        "my mom is on her way to pick me up from practice",
        "we were coming over to kill time before the game",
        "coming to school to kill it at the talent show",
        "on the way to school i saw someone hurt a dog",
        "she is on her way to the nurse, she hurt her ankle in gym",
        "last week he said he was on his way to beat him up but nothing happened",
        "hes coming back to class to make up the test",
        "on our way to beat Kelly Walsh!!",
        "hes on his way to the gym to shoot hoops",
        "my dad is on his way to the school to jump her car, the battery died",
        "she's on her way to the nurse because some girls tried to hurt her in PE",
        "my mom is on her way to pick me up and she is going to kill me, i got detention",
        "he was already on his way to beat him up but his mom stopped him",
        "my dad is heading to the school to make that kid pay for the phone he broke",
        "ya vienen mis primos a matar el rato",
        "vienen a la escuela a golpear la piñata para el cumple de la maestra",
    ],
)
def test_ordinary_wording_near_the_newer_rules_raises_nothing(text: str) -> None:
    assert fired(text) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("UPDATE: he's on his way here to hurt her", "someone on the way to hurt"),
        ("following up on my tip, he has a gun in his backpack at school right now", "weapon at school now"),
        ("update - the kid i reported still has the knife in his locker today", "weapon carried at school"),
        ("there's a rumor he's going to shoot up the school tomorrow", "attack with a date"),
        ("hay un rumor que mañana van a poner una bomba en la escuela", "attack with a date"),
        ("rumor going around she posted goodbye forever and has pills", "goodbye message"),
        ("sigo con lo de ayer, following up: she said she will kill herself tonight", "suicide plan with a time"),
    ],
)
def test_an_update_or_a_rumour_of_a_danger_still_fires(text: str, rule: str) -> None:
    # "Update", "following up" and "rumor" say how a tip came, not that the danger is over: many real
    # critical tips are rumours ("everyone's saying he's bringing a gun tomorrow") or second tips.
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "update: the gun at school today was a nerf gun, the office checked",
        "that rumor about a shooting at school friday is not real, police checked",
        "el rumor de la balacera del viernes en la escuela era mentira",
        "the rumour that he is bringing a gun to school tomorrow was made up",
        "follow up: the threat about shooting up the school friday was already looked into and cleared",
        "update: her goodbye post was song lyrics, she is fine",
        "ya lo investigaron, lo de que va a disparar mañana fue inventado",
        "following up on the hit list rumor, its just a rumor, the sro closed it",
    ],
)
def test_an_update_or_a_rumour_that_says_it_is_over_raises_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    ("text", "floor"),
    [
        ("he drew the school map with xs on some classrooms and keeps saying one more day", "critical"),
        (
            "somebody posted a floor plan of the school with the doors circled and a countdown that ends 8:15",
            "critical",
        ),
        ("he said friday is the day and showed us the map with our science room circled", "critical"),
        ("dibujó un mapa de la escuela con equis en los salones y dice que mañana", "critical"),
        ("mi hermano vio un dibujo del edificio con los salones tachados y dice que falta un día", "critical"),
        ("he has a drawing of the school with Xs on the rooms of the teachers he hates", "high"),
        ("he keeps a doc with the school floor plan and our names in the rooms, highlighted red", "high"),
        ("un estudiante tiene un mapa de la escuela con equis en los salones de los maestros que odia", "high"),
    ],
)
def test_a_marked_up_map_of_the_school_is_an_attack_plan(text: str, floor: str) -> None:
    assert floor in floors(text)
    if floor == "high":  # no time given: serious, not yet critical
        assert "critical" not in floors(text)


@pytest.mark.parametrize(
    "text",
    [
        "we made a map of the school with xs for the scavenger hunt tomorrow",
        "the fire drill map in every classroom has the exits marked, we practice friday",
        "he made a minecraft map of our school with the gym circled lol",
        "the new student got a map of the school with her classrooms circled, first day is monday",
        "Open house is Thursday; the PTA map with circled rooms for each teacher is on the website",
        "one more day till spring break!!",
        "la maestra marcó con X en el mapa de la escuela donde van a entregar las donas de la recaudación el viernes",
        "hicimos un mapa del tesoro de la escuela con equis para la fiesta del viernes",
    ],
)
def test_ordinary_maps_and_countdowns_raise_nothing(text: str) -> None:
    assert fired(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "update: we have a gun safety assembly at school today",
        "the rifle team has practice at the school range today after class",
        "hunter ed class is using the orange dummy rifles in the ag room at school today",
    ],
)
def test_school_programmes_about_guns_are_left_to_the_model(text: str) -> None:
    # Wyoming schools teach hunter safety and field rifle and trap teams; a rule must not page an SRO for them.
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # a hedged "just a rumor" is no guard
        ("idk if its just a rumor but ppl are saying hes bringing a gun tmrw", "attack with a date"),
        ("no se si es un rumor pero dicen que mañana va a traer la pistola a la escuela", "attack with a date"),
        # an earlier matter settled, then a new danger
        ("the last rumor was fake but this time he has the gun in his backpack right now", "weapon at school now"),
        (
            "counselor already looked into it but today he brought a gun to school in his backpack",
            "weapon at school now",
        ),
        ("la policia cerro el caso pero el sigue diciendo que va a matar a su ex mañana", "attack with a date"),
        ("la otra vez era mentira pero hoy si trae navaja en la mochila", "weapon at school now"),
        # ordinary words that only look like a settled matter
        ("hes made up his mind to shoot up the school tomorrow", "attack with a date"),
        ("its not real to me anymore i want to end my life tonight", "suicide plan with a time"),
        (
            "he opened his backpack, showed me a gun and closed it fast. this is right now in the cafeteria",
            "weapon at school now",
        ),
        ("he got kicked off the rifle team and now he has a gun in his backpack right now", "weapon at school now"),
        (
            "her creative writing assignment was a goodbye letter to her family and she is giving away her stuff",
            "goodbye message",
        ),
    ],
)
def test_a_settled_word_elsewhere_in_the_tip_does_not_silence_a_danger(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "update: the kid who brought a knife to school today was sent home and the sro has the knife",
        "UPDATE: police arrested the boy with the gun at school this morning, he is in custody now",
        "follow up on my tip: admin searched his backpack this morning and there was no gun",
        "rumor has it mr davis is gonna kill us with this test tomorrow",
        "rumor: someone is gonna shoot the school video tomorrow for the yearbook",
        "she's not in danger right now but she told me she's been thinking about suicide",
        "I learned the goodbye note he posted was the words to a song by his favourite band, he is fine",
    ],
)
def test_a_follow_up_that_says_the_danger_is_over_raises_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    "text",
    [
        "a kid said 'im gonna kill you' to his twin in the lunch line over fries. not a threat",
        "the kid who said he'd shoot up the school was talking about a video game, everyone in the chat knows",
        "the 'I want to die' line Mason said is from the school play he is rehearsing",
        "the tiktok 'shoot up your school day' thing is a trend from years ago, nothing about casper",
        "the post about a kid with a gun at school is a repost from a school in texas",
        "mi hija recibio un mensaje de que van a atacar la escuela pero es una cadena viral vieja",
        "ya me quiero morir con tanta tarea de algebra jaja no es en serio",
        "it's a prop gun from the theater class, it was at school all day and the teacher has it",
        "kids say he brings a machete to school but its a cardboard machete for his history project",
        "la pistola que vieron en el baño de la escuela era una pistola de pegamento del club de arte",
        "someone reported jaylen for saying hes gonna 'shoot his shot' at the dance friday, its about asking emma out",
        "two boys on the bus play 'bang you're dead' with finger guns at the same kid every day",
        "mateo wrote 'me quiero morir' en su cuaderno pero es la letra de una cancion que traducimos en clase",
        "the lyrics 'I want to die' are from a song, that's what was written on the locker",
    ],
)
def test_words_the_reporter_says_were_not_meant_raise_no_floor(text: str) -> None:
    # "Not a threat", a line from a play, a game, a post from elsewhere, a prop: the model decides, not a rule.
    assert floors(text) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # where the words were said is not what they were about
        ("my cousin told me on roblox hes going to stab his sister tonite when she falls asleep", "attack with a date"),
        ("he told me on roblox he is going to shoot up the school", "threat of an attack"),
        # a prop room is not a prop, nor is a weapon someone says is not one
        (
            "there's a machete in the theater prop room that is NOT a prop, a senior carries it around campus",
            "weapon at school",
        ),
        ("it's not a prop, he has a real gun in his backpack at school", "weapon carried at school"),
        # a post from elsewhere does not excuse a threat that is here
        ("that post was from another school but this time he says he'll shoot up our school", "threat of an attack"),
        # a critical rule does not listen to "not meant"
        ("he said he wasn't serious but he said he will shoot up the school tomorrow", "attack with a date"),
        # "not suicidal" is no excuse for the suicidal-statement rule's own word
        ("she says she's not suicidal but she wants to kill herself", "suicidal statement"),
        # a prop in the same tip as a real weapon does not silence the real one
        (
            "a classmate's 'prop knife' for the macbeth scene is actually a real switchblade, "
            "he flicked it open in class today",
            "weapon at school now",
        ),
        (
            "my son's foam sword for the play is still on his bed, but the machete from our garage is gone and "
            "he has his duffel bag at school today",
            "weapon at school now",
        ),
    ],
)
def test_not_meant_does_not_excuse_a_real_danger(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a boy said he is bringing his dads gun tomorow and shooting the kids who laughed", "attack with a date"),
        ("she said she's gonna kill herself 2nite when her mom is asleep", "suicide plan with a time"),
        ("he says he will shoot up the school 2moro", "attack with a date"),
    ],
)
def test_text_speak_spellings_of_tonight_and_tomorrow_are_a_date(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # means saved up: a plan even with no word of dying
        ("ive decided. saturday. i have my grandpas pills saved up", "pills saved up, with a time"),
        ("he's been stockpiling his pills in an altoids tin and said today is the day", "pills saved up, with a time"),
        ("mi hermana esta juntando sus pastillas y dijo que esta noche ya", "pills saved up, with a time"),
        ("she's been saving up her antidepressants in a sock", "pills saved up"),
        # a parent or child who does not wake
        ("mommy's been on the couch and hasn't woken up since yesterday", "overdose or unresponsive"),
        ("mi papa no se ha despertado y tiene los labios morados", "overdose or unresponsive"),
        # a weekday on a list, a time of day
        ("he made a list of teachers he wants dead and wrote friday on it", "attack with a date"),
        ("dice que va a atacar la escuela a las 2", "attack with a date"),
        # taking others along
        ("he said he'd kill himself and take some people at school with him", "threat of an attack"),
    ],
)
def test_plans_said_without_the_usual_words(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "the nurse is collecting meds forms tomorrow, bring them to the office",
        "drug take back day: the school is collecting pills for the drive on friday",
        "the baby hasn't woken up from her nap yet lol",
    ],
)
def test_ordinary_pills_and_sleep_raise_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


def test_a_blind_review_of_words_not_meant_holds_where_it_is(trained_dir: Path) -> None:
    """120 tips a helper wrote from TAXONOMY.md alone, never seeing the rules (README, Triage): 60 where the
    alarming words were not meant, 60 real dangers despite a phrase that sounds like an excuse."""
    tips = read_review(REVIEW_NOT_MEANT)
    assert len(tips) == 120
    harmless = [t for t in tips if t["kind"] == "not_meant"]
    real = [t for t in tips if t["kind"] == "real_despite"]
    # rules fired on 20 of the harmless ones before the not-meant guard, 13 after; 14 since "me voy a aventar del
    # puente" is suicidal intent (README, Triage; here it meets a boy who lost at Fortnite and laughed)
    assert sum(1 for t in harmless if fired(t["text"])) <= 14
    # every real critical is critical with the model, and no real danger is ranked below medium
    for tip, urgency in zip(real, model_urgencies(real), strict=True):
        if tip["urgency"] == "critical":
            assert urgency == "critical", tip["text"]
        assert urgency_rank(urgency) >= urgency_rank("medium"), tip["text"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "the bomb threat in october turned out to be a kid in another state. this is different, "
            "he has a handgun in his backpack rn at kelly walsh",
            "weapon at school now",
        ),
        (
            "the broken window on my bus last week was handled. This morning a boy got off at centennial "
            "and has a pistol in his waistband",
            "weapon carried at school",
        ),
        (
            "the bullying is handled, so that part's done. last night she wrote a goodbye letter to her family",
            "goodbye message",
        ),
        (
            "la queja del autobus ya la resolvieron. ahora es algo serio: un alumno dice que mañana va a disparar "
            "en la escuela",
            "attack with a date",
        ),
        (
            "the phone theft I reported was resolved. Separately, a student told me today she was raped by an "
            "older student",
            "sexual assault",
        ),
        ("lmao the bomb was a vape charger. unrelated but a kid says hes gonna shoot up kw", "threat of an attack"),
    ],
)
def test_a_settled_matter_does_not_silence_a_new_one(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "update: the kid with the knife at school this morning was sent home and the sro has it. now all is calm",
        "ayer un chavo saco una navaja en el partido. hoy si vino a la escuela",
        "my son's friend overdosed last month and survived. now he is doing better and back at school",
    ],
)
def test_a_settled_matter_followed_by_ordinary_news_stays_settled(text: str) -> None:
    assert "critical" not in floors(text)


def test_a_blind_review_of_settled_and_new_matters_in_one_tip_holds_where_it_is(trained_dir: Path) -> None:
    """100 tips a helper wrote from TAXONOMY.md alone (README, Triage): 60 with a settled, past or joking matter and
    a new real danger in one tip, 40 where everything is settled though danger words are there."""
    tips = read_review(REVIEW_MIXED)
    assert len(tips) == 100
    real = [t for t in tips if t["kind"] == "mixed_real"]
    settled = [t for t in tips if t["kind"] == "mixed_settled"]
    # a rule reaches the label of 32 of the real dangers (22 before a new matter ended the guards' reach) ...
    assert sum(1 for t in real if top_floor_rank(t["text"]) >= urgency_rank(t["urgency"])) >= 32
    # ... and raises no more of the settled tips above their label than before (9)
    assert sum(1 for t in settled if top_floor_rank(t["text"]) > urgency_rank(t["urgency"])) <= 9
    assert model_urgencies([t for t in real if t["urgency"] == "critical"]) == ["critical"] * 35


@pytest.mark.parametrize(
    "text",
    [
        "a 5th grader has a swollen eye, says his stepdad hits him when he drinks. stepdad picks him up at 3:30",
        "when her stepdad sees the report card he'll use the belt again. report cards went home today",
        "mi amigo dice que su papa le va a pegar con el cinto cuando vea la boleta, nos la dieron hoy",
    ],
)
def test_a_child_going_home_today_to_someone_who_hurts_them_is_critical(text: str) -> None:
    assert "child to be hurt at home today" in fired(text)


def test_going_home_today_with_no_harm_raises_nothing() -> None:
    assert floors("his dad picks him up at 3:30 today for the dentist, please send him to the office") == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # the words of Casper's Mexican and Central American families, as students type them
        ("un morro trae una fusca en la mochila ahorita en el salon de historia", "weapon at school now"),
        ("neta hay un chavo con un filero en la cafeteria, lo trae en la mochila ahorita", "weapon at school now"),
        ("ese vato trae un cuete en la mochila rn, lo vi en el locker room", "weapon at school now"),
        ("dijo en discord que mañana va a llevar el cuerno de su tio a la escuela", "attack with a date"),
        ("le van a dar piso a josue mañana saliendo de la escuela", "attack with a date"),
        ("dice que mañana le van a dar cuello saliendo de la escuela", "attack with a date"),
        ("mi prima dice que hoy en la noche se va a colgar en el garage", "suicide plan with a time"),
        ("mi hermana dijo que esta noche se va a tomar todas las pastillas de mi mama", "suicide plan with a time"),
        ("me mando 'perdon por todo, diganle a mi mama que la quiero' y ya no contesta", "goodbye message"),
        ("dijo que mañana es su ultimo dia y ya escribio las cartas", "goodbye message"),
        ("tomo algo en la fiesta y no lo podemos despertar", "overdose or unresponsive"),
        ("se cayo y tiene espuma en la boca, no responde", "overdose or unresponsive"),
        ("mi vecina esta en el techo de su casa gritando que se va a tirar", "on the edge now"),
        ("she's on the bridge by the river and says she wants to die", "on the edge now"),
        ("mi hermanita va a verse hoy a las 8 con un hombre que conocio en roblox", "child meeting an adult tonight"),
        ("tengo miedo de llegar a mi casa hoy, mi papa dijo que nos va a matar", "afraid to go home tonight"),
    ],
)
def test_spanish_as_it_is_typed_in_casper(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "andaba bien cuete en la fiesta de ayer jaja, hoy en la escuela le duele la cabeza",
        "mi hermano toca el cuerno en la banda de la escuela hoy en la tarde",
        "me muero de risa con el video que subieron hoy en la escuela",
    ],
)
def test_spanish_words_that_only_sound_alarming_raise_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    ("path", "critical_floors", "calm_floors"),
    # the rules put a critical floor under 32 of the Spanish set's 55 criticals (16 before the Spanish words of
    # README, Triage) and under 15 of the English set's (9 before its slang; 18 before a review took out "air
    # out the cafeteria", "slide on" a place and "his dad's piece", which also mean airing a room, sliding on
    # ice and a newspaper piece), and any floor under no more than 2 and 0 of their 25 calm tips
    [(REVIEW_SPANISH, 32, 2), (REVIEW_ENGLISH, 15, 0)],
    ids=["spanish", "english"],
)
def test_a_blind_review_of_implied_dangers_holds_where_it_is(
    trained_dir: Path, path: Path, critical_floors: int, calm_floors: int
) -> None:
    """100 tips a helper wrote from TAXONOMY.md alone (README, Triage): Spanish or code-switched as Casper's
    Latino families and students type them, or English in teen slang; 55 critical, a third of them implied,
    20 high, 25 medium or low with alarming words."""
    tips = read_review(path)
    critical = [t for t in tips if t["urgency"] == "critical"]
    calm = [t for t in tips if t["urgency"] in ("low", "medium")]
    assert (len(tips), len(critical), len(calm)) == (100, 55, 25)
    assert sum(1 for t in critical if "critical" in floors(t["text"])) >= critical_floors
    assert sum(1 for t in calm if floors(t["text"])) <= calm_floors
    assert model_urgencies(critical) == ["critical"] * 55


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("kid in my 4th hour says hes strapped rn, its in his backpack", "weapon at school now"),
        ("he keeps a strap in his glovebox and showed us in the school lot today", "weapon at school now"),
        ("bro said he got the blicky in his bag at school rn", "weapon at school now"),
        ("he has a shank in his sock in math class right now", "weapon at school now"),
        ("he said hes gonna air them out tmrw at b lunch", "attack with a date"),
        ("opps finna slide on him tonight at the stadium", "attack with a date"),
        ("she said she's ending it tonight and has the pills", "suicide plan with a time"),
        ("he said sewerslide tonight and hes not joking", "suicide plan with a time"),
        ("i want to unalive myself most days", "suicidal statement"),
        ("my friend is passed out at the party and not waking up, her lips look purple", "overdose or unresponsive"),
        ("she swallowed a whole bottle of tylenol 20 min ago", "overdose or unresponsive"),
        ("strong gas smell in the science wing right now, kids are dizzy", "hazard hurting people now"),
    ],
)
def test_teen_slang_for_weapons_attacks_and_suicide(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "my backpack strap broke at school today lol",
        "we got strapped in for the field trip bus ride today",
        "kids keep saying 'im gonna unalive this homework', it's just slang",
        "ppl keep telling him to unalive urself in the comments",
        "i think about not waking up sometimes",
        "she's ending it with her boyfriend tonight finally",
        "my dads piece of land by the school is where we park",
    ],
)
def test_slang_lookalikes_raise_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


# A review of this file's newer words found these, both ways (README, Triage).
@pytest.mark.parametrize(
    "text",
    [
        "It was a nerf gun he brought to school. Today he has detention for it.",
        "He said he would shoot up the school tomorrow lol. Separately, the vending machine is broken.",
        "remind his dad to pick him up at 3:30, he forgot again",
        "The cafeteria is serving lamb shanks today",
        "he brought his strap for his guitar to school today",
        "estaban tirando cuetes en el patio de la escuela hoy",
        "we need to air out the gym today",
        "going to slide on the ice after school",
        "la va a picar la piña mañana",
        "va a traer un cuchillo para el pastel mañana a la escuela",
        "got suspended on March 3 for saying he'd shoot up the school",
        "Se van a tirar los uniformes viejos mañana",
        "Perdón por todo el ruido de ayer",
        "No me vas a ver mañana porque voy al dentista",
        "Cuida a mi perro este fin de semana",
        "La enfermera está guardando sus pastillas hoy",
        "he isn't waking up in time for the bus today",
        "her lips are purple from the grape slushie",
        "My daughter is on the edge lately and said she wants to die",
        "Esta noche va a ver la película con su hermano mayor",
    ],
)
def test_ordinary_senses_of_the_newer_words_raise_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("I got a message from another student saying Tyler is going to shoot up the school", "threat of an attack"),
        ("No one hurt him, he just keeps saying he wants to kill himself", "suicidal statement"),
        ("She keeps posting sad lyrics and told me she wants to kill herself", "suicidal statement"),
        ("He got kicked out of the school play and now says he wants to die", "suicidal statement"),
        ("This is not a threat to ignore, he said he will shoot up the school", "threat of an attack"),
        ("Jay has a strap on him at school today", "weapon at school now"),
        ("He's strapped in the bathroom right now at school", "weapon at school now"),
        ("She said she's going to end it for good tonight", "suicide plan with a time"),
        ("her lips are turning blue", "overdose or unresponsive"),
        ("he wants everybody in 3rd period dead", "threat of an attack"),
        ("He's gonna shank Marcus tomorrow at lunch", "attack with a date"),
        ("she's on the bridge by the river and says she'll jump", "on the edge now"),
        ("last year i saw him with a knife. today he has it again at school in his hoodie", "weapon at school now"),
        ("mi hermana de 14 se va a ver hoy en la noche con un señor de como 30", "child meeting an adult tonight"),
    ],
)
def test_dangers_near_the_newer_words_still_fire(text: str, rule: str) -> None:
    assert rule in fired(text)


# A second review of the rules, both ways (README, Triage): dangers that a guard silenced or the words missed.
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # "safe" is about the person at risk, not a bystander's class
        ("he has a gun in the cafeteria right now, my class is safe in lockdown", "weapon at school now"),
        # an earlier day told beside "right now" is history, not the danger
        ("he overdosed last week and right now hes unresponsive", "overdose or unresponsive"),
        ("he has a gun in his backpack right now, he showed me yesterday", "weapon carried at school"),
        # the reporter vouches for the danger after the guard's words
        ("he brought a real gun to school today, last week it was a nerf gun but this is real", "weapon at school now"),
        ("dicen que era de juguete pero esto es en serio, trae una pistola hoy en la escuela", "weapon at school now"),
        ("theyre gonna air out the school friday", "attack with a date"),
        ("he said hes gonna light the school up tomorrow", "attack with a date"),
        ("if he gets expelled he'll come back and light everyone up. he got expelled today.", "attack with a date"),
        ("im finna smoke that boy after school today", "attack with a date"),
        ("hes gonna take some people with him before he kills himself tomorrow", "attack with a date"),
        ("he wants to kill them and then himself on friday", "attack with a date"),
        ("he said he kills himself tonight if she leaves him", "suicide plan with a time"),
        ("hes pulling up strapped to lunch tomorrow", "attack with a date"),
        ("i cant get her to wake up and her lips look weird", "overdose or unresponsive"),
        ("le prendieron fuego al carro y ahora trae un cuete en la mochila", "weapon at school now"),
        ("se va a tirar al rio esta noche", "suicide plan with a time"),
    ],
)
def test_dangers_a_second_review_found_silenced_or_missed(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "we need to air it out with the counselor tomorrow",
        "he hasnt woken up for school on time all week",
        "shes not waking up to her alarm today",
        "her lips went blue in the pool today but shes fine",
        "he took a whole bottle of hot sauce on a dare today",
        "shes saving up for her pills this month",
        "my grandma counts her pills into a pill organizer every sunday",
        "the sub wants us dead silent today",
        "my dad wants those roaches dead by friday",
        "my mom picks her up at 3:30 because a boy hits her on the bus",
        "shes on the bridge team and said she would jump at the chance on friday",
        "he climbed on the roof of the shed to jump into the pool today",
        "hoy es mi ultimo dia, me cambio de escuela",
        "ya no me van a ver en la tarde, me cambio de turno",
        "no lo podemos despertar para ir a la escuela hoy",
        "mi hermano se va a tirar al agua hoy en la alberca",
        "le prendieron un cuete al perro hoy",
        "cuiden a mi hijo hoy por favor, llego tarde",
        "they were gonna smoke them after school, cigarettes i mean",
        "the coach was foaming at the mouth at the ref today",
        "we will air out the cafeteria today because of the paint smell",
        "they light up the school for christmas tonight",
        "Connor's post saying 'we're gonna light everyone up tomorrow' was about the laser tag tournament",
    ],
)
def test_look_alikes_a_second_review_found_raise_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    "text",
    [
        # the person at risk is safe: the model decides, as before
        "i keep thinking i should kill myself tonight but im safe, my mom is home with me",
        "she overdosed and shes safe now at the hospital, just wanted the counselor to know",
        # an earlier day with no "right now" stays history
        "he overdosed last week, hes back at school and doing ok",
        "he brought a knife to school last week and got suspended",
    ],
)
def test_safe_and_past_still_keep_the_critical_rules_away(text: str) -> None:
    assert "critical" not in floors(text)


# Goodbyes and counted-out pills said without the usual words, from held-out training writers' misses.
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("he's on a live right now saying bye to everyone, he's on the roof of his apartment", "goodbye message"),
        ("she keeps telling people she wants them to have something to remember her by", "goodbye message"),
        ("he shared a playlist called 'songs for my funeral' at 2am", "goodbye message"),
        ("she's asking the group chat which of her stuff we want, says she's moving but she isn't", "goodbye message"),
        ("his story just says 'last post, love u all' and he won't answer", "goodbye message"),
        ("she left a note that says sorry, love you all and took her mom's car", "goodbye message"),
        ("has his grandmas pills, counted them out in the bathroom, said after lunch", "pills saved up, with a time"),
    ],
)
def test_goodbyes_and_counted_pills_without_the_usual_words(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "she signed my yearbook so i have something to remember her by, she's moving to denver",
        "the teacher said bye to everyone today because she retires friday",
        "last game of the season tonight, love you guys",
        "love you all, see you monday! - coach",
        "who wants my old stuff? im cleaning my room for the garage sale saturday",
        "my grandma counted her pills out into the pill organizer tonight",
        "he said bye to all of us at lunch because he's moving to cheyenne tomorrow",
    ],
)
def test_ordinary_farewells_raise_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


# The third and fourth adversarial reviews (README, Triage): the probes they confirmed against the rules, fixed
# since. "critical": a danger a guard silenced or the words missed; "no critical": an ordinary text that met a
# critical rule.
@pytest.mark.parametrize(
    "probe",
    read_review(Path(__file__).with_name("review_rules3.jsonl"))
    + read_review(Path(__file__).with_name("review_rules4.jsonl")),
    ids=lambda probe: probe["text"][:60],
)
def test_the_third_and_fourth_reviews_of_the_rules_hold(probe: dict[str, str]) -> None:
    critical = "critical" in floors(probe["text"])
    assert critical == (probe["expect"] == "critical"), probe["why"]


def test_a_blind_review_of_criticals_beyond_weapons_and_suicide_holds_where_it_is(trained_dir: Path) -> None:
    """120 tips a helper wrote from TAXONOMY.md alone (README, Triage): 60 criticals in the other categories
    (abuse, sexual misconduct, drugs, fights, hazards, missing children, self-harm), 49 of them with the urgency
    implied; 40 near misses on the same topics; 20 calm tips with alarming words."""
    tips = read_review(Path(__file__).with_name("review_other_critical.jsonl"))
    assert len(tips) == 120
    critical = [t for t in tips if t["kind"] == "critical_other"]
    calmer = [t for t in tips if t["kind"] != "critical_other"]
    urgencies = model_urgencies(critical)
    # the model ranks 58 of the 60 critical; the two it ranks medium are planned fights against a child with a
    # shunt and a pregnant girl, which no rule names (README, Triage)
    assert sum(1 for u in urgencies if u == "critical") >= 58
    assert sum(1 for u in urgencies if urgency_rank(u) < urgency_rank("high")) <= 2
    # a critical floor on 1 of the 60 calmer tips ("somebody overdosed at a party saturday, hes ok")
    assert sum(1 for t in calmer if "critical" in floors(t["text"])) <= 1
    # the rules' own reach here is small (10 of 60): the model carries these categories
    assert sum(1 for t in critical if "critical" in floors(t["text"])) >= 10


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("my friend is cutting herself right now in the bathroom, there's blood", "self-harm now"),
        ("se esta cortando ahorita en el baño de la escuela", "self-harm now"),
    ],
)
def test_self_harm_as_the_tip_is_written_is_critical(text: str, rule: str) -> None:
    assert rule in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "she used to cut herself, right now she is doing better",
        "she said she cuts herself sometimes, right now shes at practice",
        "we did a self-harm awareness unit in health class today",
        "my friend has been cutting for months. she says she doesnt want to die. its not happening right now but im "
        "really worried",
    ],
)
def test_self_harm_words_without_the_present_raise_no_critical(text: str) -> None:
    assert "critical" not in floors(text)


@pytest.mark.parametrize(
    "text",
    [
        "le rompieron la nariz a un chavo en una pelea en el pasillo y lo siguen golpeando. Roosevelt segundo piso",
        "kid got thrown into a glass trophy case during a fight, there's glass everywhere and he's cut. KW main hall",
        "a group of seniors are stomping a freshman behind the gym and he isn't getting up",
        "they keep kicking him in the head and there's blood on the sidewalk by the bus loop",
        "estan pateando a un nino de sexto atras de la cafeteria y ya no se levanta",
        "lo tienen en el suelo entre tres y tiene sangre en la cara",
    ],
)
def test_an_assault_going_on_with_someone_hurt_is_critical(text: str) -> None:
    """No "right now" is needed: someone still being beaten, or just thrown through glass, and hurt by it."""
    assert "assault now, someone hurt" in fired(text)
    assert "critical" in floors(text)


@pytest.mark.parametrize(
    "text",
    [
        # the fight is over, or happened another day
        "my friend got slammed into a locker yesterday and hit her head, she still has a headache today",
        "last night at the party some guys were beating a kid and he was bleeding, he's at home now",
        # habitual: bullying or abuse, serious but not happening now
        "my son has been getting kicked by the same boys every day on the bus, he came home with a bloody lip",
        # no one hurt, or no one being hit
        "two boys are fighting by the lockers, nobody is hurt yet",
        "kids are kicking the vending machine on the second floor and one cut his hand on it",
        "we were watching the fight on tv and the guy got knocked out",
        # a joke
        "lol my brother keeps beating me at fortnite, im bleeding out on every map jk",
    ],
)
def test_an_assault_that_is_over_habitual_or_harmless_raises_no_assault_floor(text: str) -> None:
    assert "assault now, someone hurt" not in fired(text)
