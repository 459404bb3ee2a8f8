"""Deterministic transcripts and summaries of calls: what the sandbox's speech recognition and
AI summary return."""

from __future__ import annotations

import random

from .config import JSON

_TOPICS: dict[int, list[tuple[str, str, str, str]]] = {
    101: [
        ("d'un devis pour l'offre professionnelle", "a quote for the business plan",
         "je vous prépare le devis aujourd'hui", "I will prepare the quote today"),
        ("de l'ajout de trois lignes au contrat", "adding three lines to the contract",
         "l'avenant part en signature cet après-midi", "the amendment goes out for signature this afternoon"),
    ],
    102: [
        ("d'un devis pour l'offre professionnelle", "a quote for the business plan",
         "je vous prépare le devis aujourd'hui", "I will prepare the quote today"),
        ("d'une démonstration de la plateforme", "a demo of the platform",
         "la démonstration est planifiée jeudi", "the demo is booked for Thursday"),
    ],
    103: [
        ("d'un problème de connexion sur la ligne", "a connection problem on the line",
         "je relance le service de votre côté", "I am resetting the service on our side"),
        ("d'appels qui coupent en pleine conversation", "calls dropping in the middle of a conversation",
         "un ticket est ouvert auprès de l'équipe technique", "a ticket is open with the technical team"),
    ],
    104: [
        ("d'un rendez-vous la semaine prochaine", "an appointment next week",
         "le rendez-vous est confirmé", "the appointment is confirmed"),
        ("d'une livraison attendue", "an expected delivery",
         "je transmets votre message au service concerné", "I am passing your message to the right team"),
    ],
    105: [
        ("de la dernière facture", "the latest invoice",
         "la facture a été corrigée", "the invoice has been corrected"),
        ("d'un changement de moyen de paiement", "a change of payment method",
         "le prélèvement est mis à jour", "the direct debit has been updated"),
    ],
    106: [
        ("d'une intervention urgente", "an urgent intervention",
         "un technicien vous rappelle demain matin", "a technician will call you back tomorrow morning"),
    ],
}  # fmt: skip


def _external(call: JSON) -> str:
    return call["caller_number"] if call["direction"] == "inbound" else call["receiver_number"]


def _topic(call: JSON) -> tuple[bool, str, str]:
    """(french?, topic, outcome) for a call, deterministic from its id."""
    options = _TOPICS.get(call["phone_id"], _TOPICS[104])
    fr_t, en_t, fr_d, en_d = options[random.Random(call["id"]).randrange(len(options))]
    french = _external(call).startswith("+33")
    return french, (fr_t if french else en_t), (fr_d if french else en_d)


def _de(company: str) -> str:
    return ("d'" if company[:1].lower() in "aeiouyéh" else "de ") + company


def _national(number: str) -> str:
    if number.startswith("+33") and len(number) == 12:
        d = "0" + number[3:]
        return " ".join(d[i : i + 2] for i in range(0, 10, 2))
    return number


def make_transcript(call: JSON, company: str) -> list[JSON]:
    """A short plausible dialogue for ``call`` (channel 0 = caller, 1 = receiver)."""
    french, topic, outcome = _topic(call)
    emp = (call["employee_name"] or ("Marie" if french else "Alex")).split()[0]
    name = call["caller_name"]
    external = _national(_external(call)) if french else _external(call)
    if call["direction"] == "inbound":
        lines_fr = [
            (1, f"Bonjour, {company}, service {call['phone_name']}, {emp} à l'appareil. Que puis-je faire pour vous ?"),
            (
                0,
                f"Bonjour, ici {name}. Je vous appelle au sujet {topic}."
                if name
                else f"Bonjour, je vous appelle au sujet {topic}.",
            ),
            (1, "Bien sûr. Pouvez-vous me confirmer votre numéro, s'il vous plaît ?"),
            (0, f"Oui, c'est le {external}."),
            (1, f"Merci. Je vois votre dossier, {outcome}."),
            (0, "Très bien, merci beaucoup."),
            (1, "Je vous envoie une confirmation par e-mail. Bonne journée !"),
            (0, "Merci, au revoir."),
        ]
        lines_en = [
            (1, f"Hello, {company}, {call['phone_name']} line, {emp} speaking. How can I help you?"),
            (0, f"Hi, this is {name}. I'm calling about {topic}." if name else f"Hi, I'm calling about {topic}."),
            (1, "Of course. Could you confirm your phone number, please?"),
            (0, f"Yes, it's {external}."),
            (1, f"Thank you. I have your file here, {outcome}."),
            (0, "Great, thank you very much."),
            (1, "I'll send you a confirmation by e-mail. Have a nice day!"),
            (0, "Thanks, goodbye."),
        ]
    else:
        greet = f", {name}" if name else ""
        lines_fr = [
            (1, "Allô ?"),
            (0, f"Bonjour{greet}, {emp} {_de(company)}. Je vous rappelle au sujet {topic}."),
            (1, "Ah oui, merci de me rappeler."),
            (0, f"Alors, {outcome}."),
            (1, "Parfait, merci."),
            (0, "Je vous envoie un récapitulatif par e-mail. Bonne journée !"),
            (1, "Merci, au revoir."),
        ]
        lines_en = [
            (1, "Hello?"),
            (0, f"Hello{greet}, this is {emp} from {company}. I'm calling you back about {topic}."),
            (1, "Oh yes, thanks for calling back."),
            (0, f"So, {outcome}."),
            (1, "Perfect, thank you."),
            (0, "I'll send you a summary by e-mail. Have a nice day!"),
            (1, "Thanks, goodbye."),
        ]  # fmt: skip
    lines = lines_fr if french else lines_en
    spans: list[tuple[float, float]] = []
    t = 0.8
    for _, text in lines:
        length = max(1.2, 0.33 * len(text.split()))
        spans.append((t, t + length))
        t += length + 0.6
    scale = min(1.0, max(call["duration"] - 1, 5) / t)
    return [
        {"channel": ch, "start": round(s * scale, 2), "end": round(e * scale, 2), "text": text}
        for (ch, text), (s, e) in zip(lines, spans, strict=True)
    ]


def make_summary(call: JSON) -> str:
    """A one-paragraph summary of ``call`` consistent with its transcript."""
    french, topic, outcome = _topic(call)
    emp = call["employee_name"] or ("un conseiller" if french else "an agent")
    who = call["caller_name"] or _external(call)
    if call["direction"] == "inbound":
        if french:
            return (
                f"{who} a appelé la ligne {call['phone_name']} au sujet {topic}. "
                f"{emp} a pris en charge la demande : {outcome}. Une confirmation sera envoyée par e-mail."
            )
        return (
            f"{who} called the {call['phone_name']} line about {topic}. "
            f"{emp} handled the request: {outcome}. A confirmation will be sent by e-mail."
        )
    if french:
        return f"{emp} a rappelé {who} au sujet {topic} : {outcome}. Un récapitulatif sera envoyé par e-mail."
    return f"{emp} called {who} back about {topic}: {outcome}. A summary will be sent by e-mail."
