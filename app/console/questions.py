"""Ready-made questions to the reporter, in English and Spanish: quick to send, and worded with care
(no leading questions, nothing that would identify the reporter if read over their shoulder)."""

from __future__ import annotations

READY_QUESTIONS: dict[str, str] = {
    "when.en": "When did this happen, or when is it going to happen?",
    "when.es": "¿Cuándo pasó esto, o cuándo va a pasar?",
    "where.en": "Where is this happening? A building, room or place helps us get there.",
    "where.es": "¿Dónde está pasando esto? Un edificio, salón o lugar nos ayuda a llegar.",
    "who.en": "Can you tell us the name or grade of the student this is about?",
    "who.es": "¿Nos puedes decir el nombre o el grado del estudiante del que se trata?",
    "safe.en": "Are you safe right now? If you are in danger, call 911.",
    "safe.es": "¿Estás a salvo ahora mismo? Si estás en peligro, llama al 911.",
    "more.en": "Is there anything else you can tell us? Screenshots or photos help too.",
    "more.es": "¿Hay algo más que nos puedas contar? Las capturas de pantalla o fotos también ayudan.",
    "thanks.en": "Thank you. We are looking into this now. Check back here for questions.",
    "thanks.es": "Gracias. Estamos revisando esto ahora. Vuelve aquí por si tenemos preguntas.",
}


def question_choices() -> list[tuple[str, str]]:
    choices = [("", "(none: write your own below)")]
    for key, text in READY_QUESTIONS.items():
        language = "English" if key.endswith(".en") else "Español"
        choices.append((key, f"{language}: {text}"))
    return choices
